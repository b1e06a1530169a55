"""trainer.precision=auto picks bf16 only where the hardware runs it natively."""

from bilstm_clf.training.precision import cpu_has_native_bf16, resolve_precision

WITH = "processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n"
WITHOUT = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n"


def test_cpu_flags_decide():
    assert cpu_has_native_bf16(WITH) and not cpu_has_native_bf16(WITHOUT) and not cpu_has_native_bf16("")


def test_explicit_precisions_pass_through():
    assert resolve_precision("32-true", "cpu") == "32-true" and resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_auto_on_cpu_follows_the_flags(monkeypatch):
    import bilstm_clf.training.precision as precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "32-true"
