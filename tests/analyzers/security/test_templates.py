"""The template analyzer: real chat templates are clean, payloads are caught, nothing renders."""

# ruff: noqa: E501 - the realistic samples keep the long lines real files have

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.analyzers.interface import Analyzer, AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.templates import (
    GGUF_CACHE_KEY,
    TemplateAnalyzer,
    analyze_template,
)
from seewhy.audit import audit
from seewhy.formats.gguf import GgufInfo
from seewhy.formats.template import MAX_TEMPLATE_CHARS, parse_template
from seewhy.release.local import open_release
from seewhy.report.model import CoverageStatus, Finding, Report, Severity

ANALYZERS: list[Analyzer] = [InventoryAnalyzer(), TemplateAnalyzer()]

# ------------------------------------------------------------------ real chat templates

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)

LLAMA31 = """\
{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

QWEN25 = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

QWEN3 = """\
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)

DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', "
    "is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}"
    "{% set ns.is_first_sp = false %}{%- else %}"
    "{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' "
    "+ tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' "
    "+ '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- endif %}{%- endfor %}"
    "{%- endif %}{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

SMOLLM3_GENERATION = (
    "{%- for message in messages %}{%- if message.role == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message.content }}{% endgeneration %}"
    "{{ '<|im_end|>\\n' }}{%- else %}{{ '<|im_start|>' + message.role + '\\n' + message.content "
    "+ '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

REAL = {
    "llama3": LLAMA3,
    "llama3.1": LLAMA31,
    "gemma": GEMMA,
    "qwen2.5": QWEN25,
    "qwen3": QWEN3,
    "mistral": MISTRAL,
    "deepseek-r1": DEEPSEEK_R1,
    "smollm3-generation": SMOLLM3_GENERATION,
    "phi3": PHI3,
}


def payloads(marker: Path) -> dict[str, str]:
    """CVE-2024-34359-style templates; each would touch ``marker`` if rendered unsandboxed."""
    m = str(marker)
    return {
        "self-globals": "{{ self.__init__.__globals__.__builtins__.open('" + m + "', 'w') }}",
        "cycler-os": "{{ cycler.__init__.__globals__.os.popen('touch " + m + "').read() }}",
        "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "attr-filter": "{{ (lipsum|attr('__globals__')).os.popen('touch " + m + "') }}",
        "built-name": "{% set x = '__cla' ~ 'ss__' %}{{ ''[x] }}",
        "joined-name": "{{ ''[['__cl', 'ass__']|join]['__m' ~ 'ro__'] }}",
        "reversed-name": "{{ ''['__ssalc__'|reverse] }}",
        "namespace-name": "{% set ns = namespace(k='__glo' + 'bals__') %}{{ lipsum[ns.k] }}",
        "joiner": "{{ joiner.__init__.__globals__.os.system('touch " + m + "') }}",
        "format": "{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}",
        "include": "{% include '/etc/passwd' %}",
        "item-dunder": "{{ messages['__class__']['__base__'] }}",
        "private": "{{ self._TemplateReference__context.cycler }}",
    }


def rules_of(template: str) -> set[str]:
    return {h.rule_id for h in analyze_template(parse_template(template))}


def findings(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule]


def tpl_step(report: Report, path: str) -> CoverageStatus | None:
    cov = next(c for c in report.coverage if c.path == path)
    steps = [s for s in cov.steps if s.analyzer == "security.templates"]
    return steps[0].status if steps else None


# ------------------------------------------------------------------ the tree checks


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_templates_are_clean(name: str) -> None:
    hits = analyze_template(parse_template(REAL[name]))
    assert hits == [], hits


@pytest.mark.parametrize("name", sorted(payloads(Path("/tmp/x"))))
def test_payloads_are_caught(name: str) -> None:
    rules = rules_of(payloads(Path("/tmp/x"))[name])
    serious = {"SW-TPL-010", "SW-TPL-012", "SW-TPL-015", "SW-TPL-017", "SW-TPL-020", "SW-TPL-011"}
    assert rules & serious, (name, rules)


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        ("{{ x.__class__ }}", "SW-TPL-010"),
        ("{{ x['__globals__'] }}", "SW-TPL-010"),
        ("{% set k = '__cla' ~ 'ss__' %}{{ x[k] }}", "SW-TPL-010"),
        ("{{ x[['__cla', 'ss__']|join('')] }}", "SW-TPL-010"),
        ("{{ x['__CLASS__'|lower] }}", "SW-TPL-010"),
        ("{{ x['_' ~ '_class_' ~ '_'] }}", "SW-TPL-010"),
        ("{{ x['X__class__X'|replace('X', '')] }}", "SW-TPL-010"),
        ("{{ x['%s%s'|format('__cla', 'ss__')] }}", "SW-TPL-010"),
        ("{{ x['__ssalc__'[::-1]] }}", "SW-TPL-010"),
        ("{{ x[''.join(['__cla', 'ss__'])] }}", "SW-TPL-010"),
        ("{{ messages|map(attribute='__class__')|list }}", "SW-TPL-010"),
        ("{{ messages|selectattr('__class__')|list }}", "SW-TPL-010"),
        ("{{ x|attr('role') }}", "SW-TPL-012"),
        ("{{ x[y ~ z] }}", "SW-TPL-015"),
        ("{{ x[(y ~ z)|lower] }}", "SW-TPL-015"),
        ("{% set k = y ~ z %}{{ x[k] }}", "SW-TPL-015"),
        ("{{ '{}'.format(x) }}", "SW-TPL-013"),
        ("{{ '{x}'.format_map(y) }}", "SW-TPL-013"),
        ("{{ cycler }}", "SW-TPL-014"),
        ("{{ lipsum() }}", "SW-TPL-014"),
        ("{{ x._private }}", "SW-TPL-011"),
        ("{{ f.f_globals }}", "SW-TPL-017"),
        ("{{ x.mro() }}", "SW-TPL-017"),
        ("{{ 'import os' }}", "SW-TPL-016"),
        ("{% import 'macros.j2' as m %}", "SW-TPL-020"),
        ("{% from 'macros.j2' import x %}", "SW-TPL-020"),
        ("{% extends 'base.j2' %}", "SW-TPL-020"),
    ],
)
def test_rules(template: str, rule: str) -> None:
    assert rule in rules_of(template)


@pytest.mark.parametrize(
    "template",
    [
        "{% set ns = namespace(found=false) %}{% for m in messages %}"
        "{% set ns.found = true %}{% endfor %}{{ ns.found }}",
        "{% for i in range(messages|length) %}{{ messages[i]['content'] }}{% endfor %}",
        "{% set key = 'content' %}{{ message[key] }}",
        "{% for self in items %}{{ self }}{% endfor %}",  # a loop variable, not the global
        "{{ '%d items'|format(n) }}",
        "{{ messages[loop.index0 - 1]['role'] }}",
        "{{ tool['function']['name'] }}",
        "{{ message['system'] }}{{ data['eval'] }}{{ m.system }}",
    ],
)
def test_ordinary_constructs_are_quiet(template: str) -> None:
    assert rules_of(template) == set()


# ------------------------------------------------------------------ release audits


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def test_real_templates_in_a_release_are_clean(tmp_path: Path) -> None:
    root = tmp_path / "chat"
    write_json(
        root / "tokenizer_config.json",
        {
            "bos_token": "<|begin_of_text|>",
            "chat_template": [
                {"name": "default", "template": LLAMA31},
                {"name": "tool_use", "template": QWEN25},
            ],
            "model_max_length": 131072,
        },
    )
    (root / "chat_template.jinja").write_text(QWEN3)
    write_json(root / "chat_template.json", {"chat_template": GEMMA})
    write_json(root / "processor_config.json", {"chat_template": MISTRAL, "processor_class": "X"})
    (root / "additional_chat_templates").mkdir()
    (root / "additional_chat_templates" / "r1.jinja").write_text(DEEPSEEK_R1)
    report = audit(root, analyzers=ANALYZERS)
    mine = [f for f in report.findings if f.analyzer == "security.templates"]
    assert mine == []
    for path in (
        "tokenizer_config.json",
        "chat_template.jinja",
        "chat_template.json",
        "processor_config.json",
        "additional_chat_templates/r1.jinja",
    ):
        assert tpl_step(report, path) is CoverageStatus.PARSED, path


def test_every_payload_file_is_flagged_and_nothing_renders(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    root = tmp_path / "payloads"
    root.mkdir()
    cases = payloads(marker)
    for name, template in cases.items():
        (root / f"{name}.jinja").write_text(
            "{% for m in messages %}{{ m.content }}{% endfor %}\n" + template
        )
    report = audit(root, analyzers=ANALYZERS)
    assert not marker.exists()
    for name in cases:
        path = f"{name}.jinja"
        worst = max(
            (f.severity.rank for f in report.findings if any(e.path == path for e in f.evidence)),
            default=-1,
        )
        assert worst >= Severity.HIGH.rank, name
        assert tpl_step(report, path) is CoverageStatus.PARSED
        lines = [e.line for f in report.findings for e in f.evidence if e.path == path]
        assert 2 in lines, (name, lines)  # the payload is on line 2 of the file


def test_json_template_evidence(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    root = tmp_path / "evil"
    template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}\n" + payloads(marker)["cycler-os"]
    )
    write_json(
        root / "tokenizer_config.json",
        {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template},
    )
    report = audit(root, analyzers=ANALYZERS)
    assert not marker.exists()
    dunder = findings(report, "SW-TPL-010")
    assert dunder and all(f.severity is Severity.CRITICAL for f in dunder)
    ev = dunder[0].evidence[0]
    assert ev.path == "tokenizer_config.json"
    assert ev.pointer == "/chat_template"
    assert ev.line == 4  # the line of the "chat_template" key
    assert ev.excerpt is not None and "__globals__" in ev.excerpt
    assert ev.note is not None and "template line 2" in ev.note
    assert findings(report, "SW-TPL-014")  # cycler
    assert tpl_step(report, "tokenizer_config.json") is CoverageStatus.PARSED


def test_jinja_file_evidence_uses_file_lines(tmp_path: Path) -> None:
    root = tmp_path / "evil"
    root.mkdir()
    (root / "chat_template.jinja").write_text(
        "{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n{{ ''.__class__ }}\n"
    )
    report = audit(root, analyzers=ANALYZERS)
    (f,) = findings(report, "SW-TPL-010")
    ev = f.evidence[0]
    assert (ev.path, ev.line, ev.excerpt) == ("chat_template.jinja", 4, "{{ ''.__class__ }}")


def test_named_template_list_pointer(tmp_path: Path) -> None:
    root = tmp_path / "named"
    write_json(
        root / "tokenizer_config.json",
        {
            "chat_template": [
                {"name": "default", "template": GEMMA},
                {"name": "rag", "template": "{{ lipsum|attr('__globals__') }}"},
                {"name": "broken"},
                "not-an-object",
            ]
        },
    )
    report = audit(root, analyzers=ANALYZERS)
    attr = findings(report, "SW-TPL-012")[0]
    assert attr.evidence[0].pointer == "/chat_template/1/template"
    assert "rag" in attr.message
    assert {e.pointer for f in findings(report, "SW-TPL-003") for e in f.evidence} == {
        "/chat_template/2",
        "/chat_template/3",
    }


def test_too_many_templates_in_one_file(tmp_path: Path) -> None:
    root = tmp_path / "many"
    entries = [{"name": f"t{i}", "template": "{{ x }}"} for i in range(200)]
    write_json(root / "tokenizer_config.json", {"chat_template": entries})
    report = audit(root, analyzers=ANALYZERS)
    assert tpl_step(report, "tokenizer_config.json") is CoverageStatus.INCONCLUSIVE


def test_unparseable_and_huge_templates_are_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    write_json(root / "tokenizer_config.json", {"chat_template": "{% for m in messages %}{{ m }"})
    (root / "huge.jinja").write_text("{{ x }}" * (MAX_TEMPLATE_CHARS // 7 + 10))
    (root / "deep.jinja").write_text("{% if a %}" * 500 + "x" + "{% endif %}" * 500)
    (root / "latin1.jinja").write_bytes(b"{{ '\xe9' }}")
    report = audit(root, analyzers=ANALYZERS, raise_errors=True)
    assert findings(report, "SW-TPL-001") and findings(report, "SW-TPL-002")
    for path in ("tokenizer_config.json", "huge.jinja", "deep.jinja", "latin1.jinja"):
        assert tpl_step(report, path) is CoverageStatus.INCONCLUSIVE, path
    syntax = next(f for f in findings(report, "SW-TPL-001") if "tokenizer_config" in f.message)
    assert syntax.evidence[0].pointer == "/chat_template"


# ------------------------------------------------------------------ GGUF


def write_gguf(path: Path, template: str | list[dict[str, str]]) -> None:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Tiny Chat")
    w.add_context_length(128)
    w.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(16)])
    w.add_chat_template(template)
    w.add_tensor("tok_embd.weight", np.zeros((16, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_with_a_malicious_template(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    root = tmp_path / "gguf-release"
    root.mkdir()
    write_gguf(
        root / "tiny.gguf",
        [
            {"name": "default", "template": GEMMA},
            {"name": "tool_use", "template": payloads(marker)["self-globals"]},
        ],
    )
    report = audit(root, analyzers=ANALYZERS)
    assert not marker.exists()
    (f,) = [f for f in findings(report, "SW-TPL-010") if "__globals__" in f.message]
    ev = f.evidence[0]
    assert ev.path == "tiny.gguf" and ev.pointer == "tokenizer.chat_template.tool_use"
    assert ev.offset is not None and ev.offset > 0
    data = (root / "tiny.gguf").read_bytes()
    assert b"tokenizer.chat_template.tool_use" in data[ev.offset : ev.offset + 64]
    assert tpl_step(report, "tiny.gguf") is CoverageStatus.PARSED


def test_gguf_info_is_read_from_the_cache(tmp_path: Path) -> None:
    root = tmp_path / "cached"
    root.mkdir()
    write_gguf(root / "m.gguf", "{{ ''.__class__ }}")
    release = open_release(root)
    ctx = AuditContext()
    TemplateAnalyzer().analyze(release, ctx)
    info = ctx.cache[(GGUF_CACHE_KEY, "m.gguf")]
    assert isinstance(info, GgufInfo)
    before = release.meter.bytes_read
    result = TemplateAnalyzer().analyze(release, ctx)
    assert release.meter.bytes_read == before  # parsed once, then reused
    assert {f.rule_id for f in result.findings} == {"SW-TPL-010"}


def test_broken_gguf_is_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "m.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 24)
    report = audit(root, analyzers=ANALYZERS, raise_errors=True)
    assert tpl_step(report, "m.gguf") is CoverageStatus.INCONCLUSIVE


def test_smollm2_gguf_template_is_clean(smollm2_gguf: Path) -> None:
    report = audit(smollm2_gguf, analyzers=ANALYZERS)
    assert [f for f in report.findings if f.analyzer == "security.templates"] == []
    (cov,) = report.coverage
    steps = [s for s in cov.steps if s.analyzer == "security.templates"]
    assert [s.status for s in steps] == [CoverageStatus.PARSED]


# ------------------------------------------------------------------ hostile input


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_template_text_never_crashes_the_analyzer(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        write_json(root / "tokenizer_config.json", {"chat_template": text})
        audit(root, analyzers=[TemplateAnalyzer()], raise_errors=True)


_PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        " set ",
        " x ",
        " = ",
        "'__cla'",
        "'ss__'",
        " ~ ",
        "[",
        "]",
        "(",
        ")",
        "|join",
        "|attr(",
        "|reverse",
        "|replace('a','b')",
        " for ",
        " in ",
        " endfor ",
        " if ",
        " endif ",
        "namespace(k=",
        "ns.k",
        ".",
        "__class__",
        "cycler",
        ",",
        "'%s'",
        "|format(",
        "[::-1]",
        " else ",
        "-",
        "1",
        "messages",
        "loop.index0",
        " is ",
        " not ",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=50))
def test_random_template_pieces_never_crash(pieces: list[str]) -> None:
    source = "".join(pieces)
    try:
        parsed = parse_template(source)
    except Exception as exc:  # only coded parse errors may escape the parser
        from seewhy.formats.template import TemplateParseError

        assert isinstance(exc, TemplateParseError)
        return
    analyze_template(parsed)


def test_fold_blowup_is_bounded() -> None:
    parts = " ~ ".join(f"(a{i} if c else b{i})" for i in range(40))
    sets = "".join(f"{{% set a{i} = 'x' %}}{{% set b{i} = 'y' %}}" for i in range(40))
    hits = analyze_template(parse_template(sets + "{{ z[" + parts + "] }}"))
    assert len(hits) <= 500
    # many combinations that collapse to few strings: stops early, reports the built key
    same = " ~ ".join("(c and 'a' or '')" for _ in range(40))
    choices = " ~ ".join("('a' if c else '')" for _ in range(40))
    assert "SW-TPL-015" in rules_of("{{ z[" + choices + "] }}")
    assert rules_of("{{ z[" + same + "] }}") <= {"SW-TPL-015"}
