"""The `evaluate.MetricInfo` the metric modules in `metric_modules/` share: predictions and references are strings,
one reference per prediction, and the result is one score."""


def string_pair_metric_info(description: str, citation: str, returns: str,
                            references: str = "reference answers, one string each.",
                            reference_urls: tuple[str, ...] = ()):
    """MetricInfo for a metric over (prediction, reference) string pairs; `returns` names and explains the one
    score it computes."""
    import datasets
    import evaluate

    inputs = f"""
Args:
    predictions: model answers, one string each.
    references: {references}
Returns:
    {returns}
"""
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs,
        features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        reference_urls=list(reference_urls),
    )
