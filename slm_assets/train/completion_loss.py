"""Completion-only cross-entropy that computes logits only where the loss needs them.

A causal LM's head turns every position's hidden state into a vocabulary-wide row of logits: (B, T, V), 453 MB in
fp32 for SmolLM2 (V = 49152) at batch 8 x 288, and the same again for the softmax and its gradient. With a
completion-only loss most of those rows are thrown away (prompt and padding positions). Here the decoder body runs
once, the hidden states at positions whose next-token label is not IGNORE are gathered (N, H), and the head plus
cross-entropy run on those rows only, a few hundred tokens at a time: the gradient with respect to the hidden
states is formed inside the forward pass (softmax minus one-hot, times the head's weight), so no (N, V) tensor
outlives its chunk and the head is never recomputed in backward.

`CompletionSFTTrainer` is TRL's SFTTrainer with this loss in `compute_loss`, and without the per-step entropy and
token-accuracy metrics (vocabulary-wide passes that only feed a log line). TRL's own path remains for what this
one does not cover (other loss types, label smoothing, a custom loss function, MoE auxiliary losses, logit
scaling or soft-capping heads, several processes).

This module imports torch and TRL: import it inside the training functions that use it.
"""

import torch
from trl import SFTTrainer

from slm_assets.losses import body_and_head, completion_rows, plain_head_scaled

# (tokens x vocabulary) elements per chunk of logits: 2**25 fp32 values = 128 MiB (682 tokens for V = 49152)
CHUNK_ELEMENTS = 2**25


class _ChunkedHeadCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of `hidden @ weight.T + bias` against `targets`; hidden (N, H), weight (V, H)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_tokens: int):
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.zeros_like(hidden, dtype=torch.float32) if need_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_weight else None
        grad_bias = torch.zeros_like(bias, dtype=torch.float32) if need_bias else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.size(0), chunk_tokens):
            h = hidden[start : start + chunk_tokens]  # (n, H)
            t = targets[start : start + chunk_tokens]  # (n,)
            logits = (h @ weight.t() if bias is None else torch.addmm(bias, h, weight.t())).float()  # (n, V)
            logits.sub_(logits.amax(-1, keepdim=True))
            target_logit = logits.gather(-1, t.unsqueeze(-1)).squeeze(-1)
            probs = logits.exp_()  # in place: the logits are not needed any more
            norm = probs.sum(-1)
            total += (norm.log() - target_logit).sum()
            if not (need_hidden or need_weight or need_bias):
                continue
            # d(sum CE)/d(logits) = softmax - one_hot(target), formed in place
            probs.div_(norm.unsqueeze(-1))
            probs[torch.arange(t.size(0), device=t.device), t] -= 1.0
            if need_hidden:
                grad_hidden[start : start + chunk_tokens] = probs @ weight.float()
            if need_weight:
                grad_weight.addmm_(probs.t(), h.float())
            if need_bias:
                grad_bias += probs.sum(0)
        ctx.save_for_backward(*(g for g in (grad_hidden, grad_weight, grad_bias) if g is not None))
        ctx.present = (need_hidden, need_weight, need_bias)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        # the loss is linear in its incoming gradient (a scalar), so the stored gradients only need scaling
        saved = iter(ctx.saved_tensors)
        grads = [(next(saved) * grad_total).to(dtype) if present else None
                 for present, dtype in zip(ctx.present, ctx.dtypes, strict=True)]
        return grads[0], grads[1], grads[2], None, None


def head_cross_entropy_sum(hidden_rows, targets, head: torch.nn.Linear):
    """Summed cross-entropy over rows (N, H) through the LM head, chunked so that at most CHUNK_ELEMENTS logits
    exist at once."""
    chunk_tokens = max(1, CHUNK_ELEMENTS // head.weight.size(0))
    return _ChunkedHeadCrossEntropy.apply(hidden_rows, head.weight, head.bias, targets, chunk_tokens)


def completion_loss(hidden, labels, head: torch.nn.Linear, num_items_in_batch=None):
    """Mean cross-entropy over completion tokens (over `num_items_in_batch` tokens when given, as transformers'
    Trainer passes under gradient accumulation), from the body's last hidden states (B, T, H)."""
    rows, targets = completion_rows(hidden, labels)
    count = targets.numel() if num_items_in_batch is None else num_items_in_batch
    # a batch without completion tokens gives a differentiable zero, not 0 / 0
    return head_cross_entropy_sum(rows, targets, head) / torch.as_tensor(count).clamp(min=1)


class CompletionSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer whose loss computes logits at completion positions only, without entropy/accuracy metrics."""

    def _sliced_loss_applies(self, model, return_outputs: bool) -> bool:
        return (not return_outputs and self.args.loss_type == "nll" and self.label_smoother is None
                and self.compute_loss_func is None and not self.aux_loss_enabled
                and self.accelerator.num_processes == 1 and plain_head_scaled(self.accelerator.unwrap_model(model).config))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._sliced_loss_applies(model, return_outputs):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        body, head = body_and_head(self.accelerator.unwrap_model(model))
        body_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        # the unwrapped body skips the autocast accelerate wraps around the model's forward: apply it here (a no-op
        # unless mixed precision is on)
        with self.accelerator.autocast():
            hidden = body(**body_inputs, use_cache=False).last_hidden_state  # (B, T, H)
            loss = completion_loss(hidden, inputs["labels"], head, num_items_in_batch)
        if self.model.training:
            self._count_train_tokens(inputs)
        return loss

    def _count_train_tokens(self, inputs) -> None:
        """TRL's `num_tokens` log entry (tokens seen, padding excluded), which its compute_loss keeps."""
        if "attention_mask" in inputs:
            self._total_train_tokens += int(inputs["attention_mask"].sum())
        else:  # padding-free batches carry position_ids only
            self._total_train_tokens += int(inputs["position_ids"].size(1))
        self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
