"""The check mechanism: correct, wrong, unsolved and crashing answers."""
import numpy as np
import pytest

from cnncourse import checks
from cnncourse.checks import Case, Mistake


def square(x):
    return np.asarray(x, float) ** 2


CASES = [Case((np.array([1.0, -2.0, 3.0]),)), (np.array([[0.5, 4.0]]),), {"x": 2.0}]
MISTAKES = [Mistake("you doubled x instead of squaring it.", wrong=lambda x: 2 * np.asarray(x))]


def test_correct_answer_is_handed_back(capsys):
    mine = lambda x: np.asarray(x) * np.asarray(x)  # noqa: E731
    assert checks.check_function(mine, square, CASES, name="square") is mine
    out = capsys.readouterr().out
    assert "✅ square: correct on 3 cases" in out


def test_wrong_answer_names_the_mistake_and_hands_back_reference(capsys):
    doubled = lambda x: 2 * np.asarray(x)  # noqa: E731
    assert checks.check_function(doubled, square, CASES, name="square", mistakes=MISTAKES) is square
    out = capsys.readouterr().out
    assert "❌ square: wrong for input" in out
    assert "Likely mistake: you doubled x" in out
    assert "reference implementation" in out


def test_unknown_mistake_falls_back_to_hint():
    cubed = lambda x: np.asarray(x) ** 3  # noqa: E731
    result = checks.evaluate_function(cubed, square, CASES, name="square", mistakes=MISTAKES,
                                      hint="multiply x by itself.", verbose=False)
    assert result.status == "failed"
    assert "Hint: multiply x by itself." in result.message


def test_stub_reports_not_done_without_raising(stub, capsys):
    assert checks.check_function(stub, square, CASES, name="square") is square
    assert "⏳ square: not done yet" in capsys.readouterr().out


def test_crashing_answer_is_reported_with_its_input():
    def broken(x):
        return x.undefined_attribute

    result = checks.evaluate_function(broken, square, CASES, name="square", verbose=False)
    assert result.status == "error"
    assert "AttributeError" in result.message and "1., -2., 3." in result.message


def test_answer_that_modifies_its_input_does_not_spoil_later_cases():
    def in_place(x):
        x = np.asarray(x, float)
        x **= 2
        return x

    assert checks.evaluate_function(in_place, square, CASES, verbose=False).passed


def test_generic_mistakes_transposed_and_none():
    ref = lambda: np.arange(6.0).reshape(2, 3)  # noqa: E731
    r = checks.evaluate_function(lambda: ref().T, ref, [()], name="m", verbose=False)
    assert "transposed" in r.message
    r = checks.evaluate_function(lambda: None, ref, [()], name="m", verbose=False)
    assert "forget to `return`" in r.message


def test_value_checks(capsys):
    assert checks.check_value(196608, 196608, name="weights") == 196608
    assert checks.check_value(..., 196608, name="weights") == 196608
    wrong = checks.evaluate_value(65536, 196608, name="weights", verbose=False,
                                  mistakes=[Mistake("you forgot the 3 colour channels.", wrong=65536)])
    assert wrong.status == "failed" and "3 colour channels" in wrong.message
    out = capsys.readouterr().out
    assert "✅ weights" in out and "⏳ weights: not done yet" in out


def test_shape_mismatch_is_explained():
    ok, why = checks.compare(np.zeros((3, 3)), np.zeros((5, 5)))
    assert not ok and "shape (3, 3), expected (5, 5)" in why


def test_assert_all_passed(stub):
    with pytest.raises(AssertionError, match="no exercise"):
        checks.assert_all_passed()
    checks.evaluate_function(stub, square, CASES, name="square", verbose=False)
    with pytest.raises(AssertionError, match="square"):
        checks.assert_all_passed()
    checks.evaluate_function(square, square, CASES, name="square", verbose=False)
    checks.assert_all_passed()


def test_welcome_checker_explains_common_mistakes():
    r = checks.evaluate_function(lambda im: im / 256, checks.welcome._to_unit_range,
                                 checks.welcome._CASES, verbose=False,
                                 mistakes=[])  # generic path works without mistakes too
    assert r.status == "failed"
    checks.welcome.to_unit_range(lambda im: im / 256)
    assert "divided by 256" in checks.history()[-1].message
    checks.welcome.to_unit_range(lambda im: im // 255)
    assert "integer division" in checks.history()[-1].message


def test_unknown_checker_module():
    with pytest.raises(AttributeError, match="no checker module 'nonexistent'"):
        checks.nonexistent  # noqa: B018


def test_mistake_is_named_only_when_it_explains_every_failing_case():
    # Doubles x, except that it squares values below 2: it agrees with "doubled" on the first
    # failing case (x = 2: 4 == 4 both ways... and x = 3 differs), not on all of them.
    def half_doubled(x):
        x = np.asarray(x, float)
        return np.where(np.abs(x) < 2.5, 2 * x, x ** 2 + 1)

    cases = [(np.array([2.0]),), (np.array([1.0]),), (np.array([3.0]),)]
    result = checks.evaluate_function(half_doubled, square, cases, name="square", mistakes=MISTAKES,
                                      hint="x squared", verbose=False)
    assert result.status == "failed" and "doubled" not in result.message
    assert "and 1 more of the 3 cases" in result.message and "Hint: x squared" in result.message
    # A predicate must hold on every failing case too.
    only_first = Mistake("the first case only.", when=lambda g, e, c: float(c.args[0][0]) == 1.0)
    result = checks.evaluate_function(half_doubled, square, cases, name="square",
                                      mistakes=[only_first], verbose=False)
    assert "first case only" not in result.message


def test_calling_the_library_instead_of_writing_it_is_told():
    from cnncourse import neurons

    def mine(z):
        return neurons.sigmoid(z)

    for answer in (neurons.sigmoid, mine):
        result = checks.evaluate_function(answer, lambda z: 1 / (1 + np.exp(-np.asarray(z))),
                                          [(0.0,), (1.0,)], name="sigmoid", verbose=False)
        assert result.status == "failed", answer
        assert "calls the library's `cnncourse.neurons.sigmoid` instead of writing it" in result.message
    honest = lambda z: 1 / (1 + np.exp(-np.asarray(z)))  # noqa: E731
    assert checks.library_shortcut(honest, "sigmoid") is None


def test_a_typo_in_the_exercise_is_reported_by_the_check_and_the_notebook_goes_on():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert checks.install_notebook_hook(shell)
        shell.run_cell("from cnncourse import checks\nimport numpy as np")
        shell.run_cell("def to_unit_rnage(image):\n    return image / 255")          # a typo
        result = shell.run_cell("to_unit_range = checks.welcome.to_unit_range(to_unit_range)")
        assert result.error_in_exec is None
        last = checks.history()[-1]
        assert last.status == "not done" and "`to_unit_range` is not defined" in last.message
        # the reference was handed back, so later cells work
        assert shell.run_cell("to_unit_range(np.array([0, 255]))").result.tolist() == [0.0, 1.0]
        # a value exercise and a name that exists are unaffected
        shell.run_cell("checks.check_value(n_pixels, 4, name='n_pixels')")
        assert "`n_pixels` is not defined" in checks.history()[-1].message
        shell.run_cell("n = 4\nchecks.check_value(n, 4, name='n')")
        assert checks.history()[-1].passed
        # a name inside a function body is left alone (it is the function's local)
        result = shell.run_cell("def f():\n    k = 3\n    return checks.check_value(k, 3, name='k')\nf()")
        assert result.error_in_exec is None and checks.history()[-1].passed
    finally:
        InteractiveShell.clear_instance()


def test_arrays_too_big_to_print_say_where_they_differ_and_numbers_print_plainly():
    expected = np.zeros((4, 3, 4))
    got = expected.copy()
    got[1, 2, 3] = 0.5
    ok, why = checks.compare(got, expected)
    assert not ok and "first difference at index (1, 2, 3): got 0.5, expected 0.0" in why
    assert "1 of 48 entries differ" in why
    assert checks.compare(np.float64(1.0), 2.0)[1] == "got 1.0, expected 2.0 (max abs error 1)"


# --------------------------------------------------------------------------------------------
# The core's call adapter, diagnosis and behaviour-matched mistakes (issue 28)


def test_call_adapter_calls_answer_reference_and_wrong_implementations():
    seen = []

    def call(fn, case):
        seen.append(fn)
        return {"total": float(np.sum(fn(*case.args)))}   # a plain summary is compared

    halved = Mistake("you halved it.", wrong=lambda x: np.asarray(x) / 2)
    answer = lambda x: np.asarray(x, float) / 2  # noqa: E731
    result = checks.evaluate_function(answer, square, [(np.array([1.0, 2.0]),)], name="sq",
                                      call=call, mistakes=[halved], verbose=False)
    assert result.status == "failed" and "Likely mistake: you halved it." in result.message
    assert "['total']" in result.message
    assert seen[:2] == [square, answer] and halved.wrong in seen


def test_a_wrong_implementation_is_named_on_the_failing_cases_in_a_second_pass():
    # Doubles x except at x = 5: a failing case that doubling does not explain, so not named.
    def doubled_and_more(x):
        x = np.asarray(x, float)
        return np.where(x == 5, 99.0, 2 * x)

    cases = [(np.array([1.0]),), (np.array([3.0]),), (np.array([5.0]),)]
    later = Mistake("a predicate tried before the second pass.", when=lambda g, e, c: False)
    result = checks.evaluate_function(doubled_and_more, square, cases, name="square",
                                      mistakes=[*MISTAKES, later], verbose=False)
    assert "doubled" not in result.message   # x = 5 fails and is not explained by doubling
    # Doubles x except at x = 3, where it returns 9 (right): unlike `doubled` on a case tried
    # (first pass), like it on every failing case (second pass), so named.
    cases = [(np.array([1.0]),), (np.array([3.0]),), (np.array([4.0]),)]

    def doubled_but_three(x):
        x = np.asarray(x, float)
        return np.where(x == 3, 9.0, 2 * x)

    result = checks.evaluate_function(doubled_but_three, square, cases, name="square",
                                      mistakes=MISTAKES, verbose=False)
    assert "Likely mistake: you doubled x" in result.message


def test_diagnose_runs_once_per_failing_case_and_findings_name_mistakes():
    calls = []

    def diagnose(got, expected, case):
        calls.append(case)
        return {"too big"} if np.all(np.asarray(got) > np.asarray(expected)) else set()

    mistakes = [Mistake(f"mistake {i}", finding="nothing") for i in range(5)]
    mistakes.append(Mistake("the result is too big.", finding="too big"))
    cases = [(np.array([1.0]),), (np.array([2.0]),), (np.array([0.5]),)]
    result = checks.evaluate_function(lambda x: square(x) + 1, square, cases, name="square",
                                      mistakes=mistakes, diagnose=diagnose, verbose=False)
    assert "Likely mistake: the result is too big." in result.message
    assert len(calls) == 3   # once per failing case, not once per mistake
    result = checks.evaluate_value(5, 4, name="four", diagnose=lambda g, e, c: {"big"} if g > e else (),
                                   mistakes=[Mistake("too big a value.", finding="big")], verbose=False)
    assert "Likely mistake: too big a value." in result.message


def test_structure_findings_name_missing_and_extra_parts():
    expected = ["Conv2D(16)", "MaxPooling2D", "Flatten", "Dense(64)", "Dropout(0.5)", "Dense(2)"]
    assert checks.structure_findings(expected, expected) == []
    assert checks.structure_findings([p for p in expected if "Dropout" not in p], expected) == [
        "missing: Dropout(0.5) after Dense(64)"]
    extra = expected[:2] + ["MaxPooling2D"] + expected[2:]
    assert checks.structure_findings(extra, expected) == ["extra: a second MaxPooling2D after Conv2D(16)"]
    assert checks.structure_findings(expected[:1] + expected[4:], expected, what="in the model") == [
        "missing: MaxPooling2D in the model after Conv2D(16)", "missing: Flatten in the model after "
        "MaxPooling2D", "missing: Dense(64) in the model after Flatten"]
    replaced = expected[:3] + ["Dense(8)"] + expected[4:]
    assert checks.structure_findings(replaced, expected) == [
        "missing: Dense(64) after Flatten (found Dense(8) there)"]
    summary = lambda layers: lambda *a: {"layers": tuple(layers)}  # noqa: E731
    result = checks.evaluate_function(
        summary(expected[:4] + expected[5:]), summary(expected), [()], name="build",
        diagnose=lambda g, e, c: checks.structure_findings(g["layers"], e["layers"]), verbose=False)
    assert result.status == "failed"
    assert "Compared with what the exercise asks: missing: Dropout(0.5) after Dense(64)." in result.message


def test_a_mistake_says_how_it_is_recognised():
    with pytest.raises(ValueError, match="exactly one of wrong=, when=, finding="):
        Mistake("nothing to recognise it by")
    with pytest.raises(ValueError, match="exactly one"):
        Mistake("two ways", wrong=1, finding="x")


def test_a_crash_is_explained_by_a_finding():
    def diagnose(got, expected, case):
        return {"typed"} if isinstance(got, TypeError) else set()

    result = checks.evaluate_function(lambda x: x + "1", square, [(np.array([1.0]),)], name="square",
                                      diagnose=diagnose, verbose=False,
                                      mistakes=[Mistake("you added a string.", finding="typed")])
    assert result.status == "error" and result.message.endswith("meanwhile. Likely mistake: you added a string.")
