"""The pickle policy: names resolved as Python resolves them, judged by profile."""

from __future__ import annotations

import pytest

from seewhy.analyzers.security.pickle_policy import load_policy
from seewhy.formats.pickle_vm import CallSite, GlobalRef

TORCH = ("base", "torch", "numpy")


def ref(
    module: str | None, name: str | None, *, protocol: int = 4, constant: bool = True
) -> GlobalRef:
    return GlobalRef(module, name, 0, "GLOBAL", "inline", constant=constant, protocol=protocol)


@pytest.mark.parametrize(
    ("module", "name", "target", "mechanism"),
    [
        ("posix", "system", "os.system", "module alias posix → os"),
        ("nt", "popen", "os.popen", "module alias nt → os"),
        ("__builtin__", "eval", "builtins.eval", "Python 2 module __builtin__"),
        ("pathlib", "os.system", "os.system", "dotted name"),
        ("__main__", "__builtins__.exec", "builtins.exec", "dotted name"),
        ("_operator", "methodcaller", "operator.methodcaller", "module alias _operator"),
        ("subprocess", "Popen", "subprocess.Popen", ""),
        (
            "asyncio.unix_events",
            "_UnixSelectorEventLoop",
            "asyncio.unix_events._UnixSelectorEventLoop",
            "",
        ),
        ("torch.jit", "load", "torch.jit.load", ""),
        ("pip._internal.cli.main", "main", "pip._internal.cli.main.main", ""),
        ("_xxsubinterpreters", "run_string", "_xxsubinterpreters.run_string", ""),
        ("numpy.testing._private.utils", "runstring", "numpy.testing._private.utils.runstring", ""),
        ("pathlib", "Path.write_text", "pathlib.Path.write_text", ""),
    ],
)
def test_dangerous_names_are_resolved_and_caught(
    module: str, name: str, target: str, mechanism: str
) -> None:
    judgement = load_policy().judge(ref(module, name), "call", TORCH)
    assert judgement.level == "dangerous", judgement
    assert judgement.name == target
    assert mechanism in " ".join(judgement.mechanisms)


def test_submodules_and_safe_members_are_told_apart() -> None:
    policy = load_policy()
    assert policy.judge(ref("os.path", "join"), "call", TORCH).level == "unknown"
    assert policy.judge(ref("os", "system"), "reference", TORCH).level == "dangerous"
    assert policy.judge(ref("collections", "OrderedDict"), "call", TORCH).level == "allowed"
    assert policy.judge(ref("__builtin__", "set"), "call", TORCH).level == "allowed"


def test_profiles_and_usage() -> None:
    policy = load_policy()
    linear = ref("torch.nn.modules.linear", "Linear")
    assert policy.judge(linear, "construct", TORCH).level == "allowed"
    assert policy.judge(linear, "call", TORCH).level == "unknown"
    assert policy.judge(linear, "construct", ("base", "numpy")).level == "unknown"
    estimator = ref("sklearn.linear_model._base", "LinearRegression")
    assert policy.judge(estimator, "construct", ("base", "numpy")).level == "unknown"
    assert policy.judge(estimator, "call", ("base", "numpy", "joblib")).level == "allowed"
    helper = ref("sklearn.utils.fixes", "threadpool_limits")
    assert policy.judge(helper, "call", ("base", "numpy", "joblib")).level == "unknown"
    assert policy.judge(ref("torch", "FloatStorage"), "reference", TORCH).level == "allowed"
    assert policy.judge(ref("torch", "float32"), "call", TORCH).level == "unknown"
    build = ref("torch.jit._pickle", "build_intlist")
    assert policy.judge(build, "call", (*TORCH, "torchscript")).level == "allowed"
    assert policy.judge(build, "call", TORCH).level == "dangerous"


def test_conditions_on_allowed_callables() -> None:
    policy = load_policy()
    encode = ref("_codecs", "encode")

    def call(args: tuple[object, ...]) -> CallSite:
        return CallSite("reduce", encode, 0, repr(args), "REDUCE", const_args=args)

    assert policy.judge(encode, "call", TORCH, [call(("abc", "latin1"))]).level == "allowed"
    assert policy.judge(encode, "call", TORCH, [call(("bf", "rot13"))]).level == "unsafe-form"
    none_type = ref("builtins", "type")
    ok = CallSite("reduce", none_type, 0, "(None,)", "REDUCE", const_args=(None,))
    assert policy.judge(none_type, "call", TORCH, [ok]).level == "allowed"
    three = CallSite("reduce", none_type, 0, "('X', (), {})", "REDUCE")
    assert policy.judge(none_type, "call", TORCH, [three]).level == "unsafe-form"


def test_unknown_and_computed_names() -> None:
    policy = load_policy()
    assert policy.judge(ref(None, None, constant=False), "call", TORCH).level == "computed"
    assert policy.judge(ref("os", "system", constant=False), "call", TORCH).level == "computed"
    dunder = policy.judge(ref("numpy", "__builtins__"), "reference", TORCH)
    assert dunder.level == "dangerous"
    main = policy.judge(ref("__main__", "Model"), "construct", TORCH)
    assert main.level == "unknown" and "__main__" in main.reason


def test_storage_sizes_and_forwarding() -> None:
    policy = load_policy()
    assert policy.element_size("BFloat16Storage") == 2
    assert policy.element_size("ComplexDoubleStorage") == 16
    assert policy.forwarded("copyreg._reconstructor") == ("construct", "construct")
