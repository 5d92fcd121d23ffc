"""Render the subset of Go's text/template that `slm_assets.export.chat_format` emits, as Ollama would.

Supported: text, `{{-`/`-}}` whitespace trimming, `range .Messages`, `if`/`else if`/`else`/`end`,
`$v := expr`, `$v = expr`, and expressions `.Role`, `.Content`, `$v`, `"literal"`, `eq A B`.
Anything else raises, so a template using more than this cannot pass a test by accident.
"""

import json
import re

_ACTION = re.compile(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", re.DOTALL)


def _tokens(template: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)] with trim markers applied to the neighbouring text."""
    out, pos = [], 0
    for match in _ACTION.finditer(template):
        text = template[pos:match.start()]
        if match.group(1):
            text = text.rstrip()
        out.append(["text", text])
        out.append(["action", match.group(2), bool(match.group(3))])
        pos = match.end()
    out.append(["text", template[pos:]])
    tokens = []
    for i, token in enumerate(out):
        if token[0] == "text" and i > 0 and out[i - 1][2]:
            token[1] = token[1].lstrip()
        tokens.append((token[0], token[1]))
    return tokens


def _parse(tokens: list[tuple[str, str]], i: int = 0, stops: tuple[str, ...] = ()) -> tuple[list, int, str]:
    """(nodes, next index, the stop action that ended the block)."""
    nodes = []
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(("text", value))
        elif value == "end" or value == "else" or value.startswith("else if "):
            if value.split(" ")[0] not in {s.split(" ")[0] for s in stops}:
                raise ValueError(f"unexpected {{{{ {value} }}}}")
            return nodes, i, value
        elif value == "range .Messages":
            body, i, _ = _parse(tokens, i, ("end",))
            nodes.append(("range", body))
        elif value.startswith("if "):
            branches, cond = [], value[3:]
            while True:
                body, i, stop = _parse(tokens, i, ("end", "else", "else if"))
                branches.append((cond, body))
                if stop == "end":
                    break
                cond = stop[len("else if "):] if stop.startswith("else if ") else None
            nodes.append(("if", branches))
        elif re.fullmatch(r"\$\w+ :?= .+", value):
            name, _, expr = value.partition(" ")
            nodes.append(("assign", name, expr.split(" ", 1)[1]))
        else:
            nodes.append(("expr", value))
    if stops:
        raise ValueError("template ends inside a block")
    return nodes, i, ""


def _eval(expr: str, dot: dict, variables: dict) -> str | bool:
    parts = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', expr)
    if parts[0] == "eq" and len(parts) == 3:
        return _eval(parts[1], dot, variables) == _eval(parts[2], dot, variables)
    if len(parts) != 1:
        raise ValueError(f"unsupported expression {expr!r}")
    term = parts[0]
    if term.startswith('"'):
        return json.loads(term)
    if term.startswith("$"):
        return variables[term]
    if term in (".Role", ".Content"):
        return dot[term[1:].lower()]
    raise ValueError(f"unsupported term {term!r}")


def _run(nodes: list, dot: dict, variables: dict, messages: list[dict], out: list[str]) -> None:
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "expr":
            out.append(str(_eval(node[1], dot, variables)))
        elif node[0] == "assign":
            variables[node[1]] = _eval(node[2], dot, variables)
        elif node[0] == "range":
            for message in messages:
                _run(node[1], message, variables, messages, out)
        else:  # if
            for cond, body in node[1]:
                if cond is None or _eval(cond, dot, variables):
                    _run(body, dot, variables, messages, out)
                    break


def render(template: str, messages: list[dict]) -> str:
    """The prompt Ollama builds from `template` for `messages` ({"role", "content"} dicts)."""
    nodes, _, _ = _parse(_tokens(template))
    out: list[str] = []
    _run(nodes, {}, {}, messages, out)
    return "".join(out)
