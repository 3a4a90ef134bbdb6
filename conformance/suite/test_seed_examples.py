"""The seed's worked examples, checked exactly as the specs state them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.oracles.verdicts import (
    CheckFailure,
    expect_close,
    expect_equal,
    expect_error_without_output_gradient,
    require,
    snippet,
)
from conformance.specs import claim

WORKED = "y = bk.mul(bk.add(m, n), bk.add(m, bk.neg(n)))"


def _worked_example(bk: Any, dtype: str, m: float, n: float) -> dict[str, Any]:
    """The seed's graph a = m + n, b = m + (-n), y = a * b, with m and n tracked leaves."""
    t = {
        "m": bk.tensor(np.array([m]), dtype, requires_grad=True),
        "n": bk.tensor(np.array([n]), dtype, requires_grad=True),
    }
    t["a"] = bk.add(t["m"], t["n"])
    t["b"] = bk.add(t["m"], bk.neg(t["n"]))
    t["y"] = bk.mul(t["a"], t["b"])
    return t


def _tracked_snippet(bk: Any, dtype: str, *after: str, m: float = 2.0, n: float = 3.0) -> str:
    return snippet(
        bk,
        f"m = bk.tensor(np.array([{m!r}]), {dtype!r}, requires_grad=True)",
        f"n = bk.tensor(np.array([{n!r}]), {dtype!r}, requires_grad=True)",
        "a = bk.add(m, n); b = bk.add(m, bk.neg(n)); y = bk.mul(a, b)",
        *after,
    )


def _worked_fn(bk: Any) -> Any:
    return lambda m, n: bk.mul(bk.add(m, n), bk.add(m, bk.neg(n)))


@pytest.mark.claim("G-2")
def test_the_worked_example_computes_its_forward_values(backend: Any, dtype: str) -> None:
    """a = m + n, b = m + (-n), y = a * b give 5, -1 and -5 at m = 2, n = 3."""
    spec = claim("G-2")
    m, n = (np.array([spec.params[k]]) for k in ("m", "n"))
    values = {
        "a": backend.add(backend.tensor(m, dtype), backend.tensor(n, dtype)),
        "b": backend.add(backend.tensor(m, dtype), backend.neg(backend.tensor(n, dtype))),
    }
    values["y"] = backend.mul(values["a"], values["b"])
    repro = snippet(
        backend,
        f"m = bk.tensor(np.array([{m[0]!r}]), {dtype!r})",
        f"n = bk.tensor(np.array([{n[0]!r}]), {dtype!r})",
        WORKED,
        "print(bk.to_numpy(y))",
    )
    for name in ("a", "b", "y"):
        expect_equal(
            f"forward value of {name}",
            backend.to_numpy(values[name]).reshape(-1),
            np.array([spec.expected[name]]),
            repro,
        )


@pytest.mark.claim("GR-1")
def test_the_worked_example_has_gradients_4_and_minus_6(backend: Any, dtype: str) -> None:
    """One backward pass from y = (m+n)(m-n) at m=2, n=3 gives exactly 4 and -6."""
    spec = claim("GR-1")
    m, n = spec.params["m"], spec.params["n"]
    value, (gm, gn) = backend.vjp(_worked_fn(backend), [np.array([m]), np.array([n])], dtype, None)
    repro = snippet(
        backend,
        "f = lambda m, n: bk.mul(bk.add(m, n), bk.add(m, bk.neg(n)))",
        f"print(bk.vjp(f, [np.array([{m!r}]), np.array([{n!r}])], {dtype!r}))",
    )
    expect_equal("gradient of m", np.reshape(gm, -1), np.array([spec.expected["m_grad"]]), repro)
    expect_equal("gradient of n", np.reshape(gn, -1), np.array([spec.expected["n_grad"]]), repro)


def _vector_square(backend: Any, dtype: str) -> tuple[Any, np.ndarray, np.ndarray, str]:
    """NS-1's example: y = x * x on the spec's vector x, and its output gradient v."""
    spec = claim("NS-1")
    x, v = np.array(spec.params["x"]), np.array(spec.params["v"])
    text = snippet(
        backend,
        "f = lambda t: bk.mul(t, t)",
        f"print(bk.vjp(f, [np.array({x.tolist()!r})], {dtype!r}, np.array({v.tolist()!r})))",
        f"bk.vjp(f, [np.array({x.tolist()!r})], {dtype!r})  # must raise",
    )
    return (lambda t: backend.mul(t, t)), x, v, text


@pytest.mark.claim("NS-1")
def test_a_vector_output_with_an_output_gradient_gives_the_vjp(backend: Any, dtype: str) -> None:
    """Backward from the vector y = x*x with an output gradient v gives v . dy/dx = 2xv."""
    square, x, v, repro = _vector_square(backend, dtype)
    _, (grad,) = backend.vjp(square, [x], dtype, v)
    expect_close(
        "vector-Jacobian product",
        grad,
        np.array(claim("NS-1").expected["vjp"]),
        dtype,
        repro=repro,
    )


@pytest.mark.claim("NS-1")
def test_a_vector_output_without_an_output_gradient_is_an_error(backend: Any, dtype: str) -> None:
    """Without v, backward from the vector y = x*x raises, not Unsupported; with v it runs."""
    square, x, v, repro = _vector_square(backend, dtype)
    expect_error_without_output_gradient(backend, square, [x], dtype, v, repro=repro)


@pytest.mark.claim("LF-1")
def test_only_m_and_n_are_leaves_in_the_worked_example(backend: Any, dtype: str) -> None:
    """m and n are leaves; a, b and y are not."""
    require(backend, *claim("LF-1").requires)
    t = _worked_example(backend, dtype, 2.0, 3.0)
    repro = _tracked_snippet(backend, dtype, "print([bk.is_leaf(t) for t in (m, n, a, b, y)])")
    for name, leaf in claim("LF-1").expected["leaf"].items():
        expect_equal(f"is_leaf({name})", backend.is_leaf(t[name]), leaf, repro)


@pytest.mark.claim("LF-2")
def test_user_created_tensors_are_leaves_and_computed_ones_are_not(
    backend: Any, dtype: str
) -> None:
    """A user-made tensor is a leaf, tracked or not; a result of tracked inputs is not."""
    require(backend, *claim("LF-2").requires)
    expected = claim("LF-2").expected
    tracked = backend.tensor(np.array([1.5, -2.0]), dtype, requires_grad=True)
    plain = backend.tensor(np.array([0.5, 4.0]), dtype)
    repro = snippet(
        backend,
        f"x = bk.tensor(np.array([1.5, -2.0]), {dtype!r}, requires_grad=True)",
        f"c = bk.tensor(np.array([0.5, 4.0]), {dtype!r})",
        "print(bk.is_leaf(x), bk.is_leaf(c), bk.is_leaf(bk.mul(c, c)), bk.is_leaf(bk.mul(x, c)))",
    )
    expect_equal("is_leaf(tracked user tensor)", backend.is_leaf(tracked), True, repro)
    expect_equal(
        "is_leaf(untracked user tensor)", backend.is_leaf(plain), expected["untracked_leaf"], repro
    )
    expect_equal(
        "is_leaf(result of untracked tensors)",
        backend.is_leaf(backend.mul(plain, plain)),
        expected["untracked_result_leaf"],
        repro,
    )
    expect_equal(
        "is_leaf(result of a tracked tensor)",
        backend.is_leaf(backend.mul(tracked, plain)),
        False,
        repro,
    )


def _after_backward(backend: Any, dtype: str) -> tuple[dict[str, Any], str]:
    """NL-1's example: the worked example after one backward pass from y."""
    spec = claim("NL-1")
    require(backend, *spec.requires)
    t = _worked_example(backend, dtype, spec.params["m"], spec.params["n"])
    backend.backward(t["y"])
    repro = _tracked_snippet(
        backend,
        dtype,
        "bk.backward(y)",
        "print(bk.grad(m), bk.grad(n), bk.grad(a), bk.grad(b), bk.grad(y))",
        m=spec.params["m"],
        n=spec.params["n"],
    )
    return t, repro


@pytest.mark.claim("NL-1")
def test_non_leaves_keep_no_gradient_after_backward(backend: Any, dtype: str) -> None:
    """After backward, the non-leaves a, b and y hold no gradient."""
    t, repro = _after_backward(backend, dtype)
    for name in ("a", "b", "y"):
        expect_equal(f"grad of non-leaf {name}", backend.grad(t[name]), None, repro)


@pytest.mark.claim("NL-1")
def test_leaves_keep_their_gradient_after_backward(backend: Any, dtype: str) -> None:
    """After backward, the leaves m and n hold their gradients 4 and -6."""
    t, repro = _after_backward(backend, dtype)
    for name in ("m", "n"):
        got = backend.grad(t[name])
        expect_equal(
            f"grad of leaf {name}",
            None if got is None else np.reshape(got, -1),
            np.array([claim("NL-1").expected[f"{name}_grad"]]),
            repro,
        )


@pytest.mark.claim("NL-2")
def test_retain_grad_keeps_a_non_leaf_gradient(backend: Any, dtype: str) -> None:
    """With retain_grad on a and b before backward, a.grad = b = -1 and b.grad = a = 5."""
    spec = claim("NL-2")
    require(backend, *spec.requires)
    t = _worked_example(backend, dtype, spec.params["m"], spec.params["n"])
    backend.retain_grad(t["a"])
    backend.retain_grad(t["b"])
    backend.backward(t["y"])
    repro = _tracked_snippet(
        backend,
        dtype,
        "bk.retain_grad(a); bk.retain_grad(b); bk.backward(y)",
        "print(bk.grad(a), bk.grad(b))",
    )
    for name in ("a", "b"):
        got = backend.grad(t[name])
        expect_equal(
            f"retained grad of {name}",
            None if got is None else np.reshape(got, -1),
            np.array([spec.expected[f"{name}_grad"]]),
            repro,
        )


@pytest.mark.claim("ST-1")
def test_a_retained_non_leaf_gradient_accumulates_over_two_passes(backend: Any, dtype: str) -> None:
    """Two backward passes over a retained graph, with a and b retaining their gradients:
    each holds the sum of both passes (a.grad = 2b = -2, b.grad = 2a = 10), as the leaves
    do (m.grad = 8, n.grad = -12)."""
    spec = claim("NL-2")
    require(backend, *claim("ST-1").requires)
    t = _worked_example(backend, dtype, spec.params["m"], spec.params["n"])
    backend.retain_grad(t["a"])
    backend.retain_grad(t["b"])
    backend.backward(t["y"], retain_graph=True)
    backend.backward(t["y"], retain_graph=True)
    repro = _tracked_snippet(
        backend,
        dtype,
        "bk.retain_grad(a); bk.retain_grad(b)",
        "bk.backward(y, retain_graph=True); bk.backward(y, retain_graph=True)",
        "print(bk.grad(a), bk.grad(b), bk.grad(m), bk.grad(n))",
    )
    m, n = spec.params["m"], spec.params["n"]
    for name, once in (("a", m - n), ("b", m + n), ("m", 2 * m), ("n", -2 * n)):
        got = backend.grad(t[name])
        expect_equal(
            f"grad of {name} after two passes",
            None if got is None else np.reshape(got, -1),
            np.array([2.0 * once]),
            repro,
        )


@pytest.mark.claim("GF-1")
def test_computed_tensors_record_their_creating_op(backend: Any, dtype: str) -> None:
    """a and b record an addition and y a multiplication; leaves record nothing."""
    spec = claim("GF-1")
    require(backend, *spec.requires)
    t = _worked_example(backend, dtype, 2.0, 3.0)
    repro = _tracked_snippet(backend, dtype, "print([bk.grad_fn(t) for t in (m, n, a, b, y)])")
    for name, op in spec.expected["grad_fn"].items():
        expect_equal(f"grad_fn({name})", backend.grad_fn(t[name]), op, repro)
    for name in spec.expected["no_grad_fn"]:
        expect_equal(f"grad_fn({name})", backend.grad_fn(t[name]), None, repro)


@pytest.mark.claim("G-1")
def test_walking_back_from_y_reaches_exactly_m_and_n_without_a_cycle(
    backend: Any, dtype: str
) -> None:
    """The recorded graph is acyclic and its leaves are exactly the inputs y depends on."""
    spec = claim("G-1")
    require(backend, *spec.requires)
    t = _worked_example(backend, dtype, spec.params["m"], spec.params["n"])
    repro = _tracked_snippet(backend, dtype, "print(bk.graph_parents(y))")
    leaves: list[Any] = []
    on_path: set[int] = set()
    done: set[int] = set()

    def walk(node: Any, depth: int) -> None:
        if id(node) in on_path or depth > 10_000:
            raise CheckFailure(
                "graph walk", "a cycle through the recorded graph", "an acyclic graph", repro=repro
            )
        if id(node) in done:
            return
        on_path.add(id(node))
        leaf = backend.graph_leaf(node)
        if leaf is not None and all(leaf is not seen for seen in leaves):
            leaves.append(leaf)
        for parent in backend.graph_parents(node):
            walk(parent, depth + 1)
        on_path.discard(id(node))
        done.add(id(node))

    walk(t["y"], 0)
    names = sorted(name for name, tensor in t.items() if any(tensor is leaf for leaf in leaves))
    expect_equal(
        "leaves reached from y",
        names == spec.expected["leaves"] and len(leaves) == len(names),
        True,
        repro,
    )


@pytest.mark.claim("DG-1")
def test_gradients_follow_the_branch_and_loop_that_ran(backend: Any, dtype: str) -> None:
    """Branching and looping on computed values: the gradient is that of the path taken."""
    spec = claim("DG-1")
    p, e = spec.params, spec.expected

    def branchy(x: Any) -> Any:
        # the condition reads a concrete intermediate value: define-by-run
        square = backend.mul(x, x)
        if float(np.sum(backend.to_numpy(square))) > p["threshold"]:
            return backend.sum(backend.mul(backend.tensor(np.array(3.0), dtype), x))
        return backend.sum(backend.pow(x, 3))

    for x, want in zip(p["branch_points"], e["branch_grads"], strict=True):
        _, (grad,) = backend.vjp(branchy, [np.array([x])], dtype, None)
        expect_close(
            f"gradient on the branch taken at x={x}", np.reshape(grad, -1), np.array([want]), dtype
        )

    def loop(x: Any) -> Any:
        v = x
        while float(np.sum(backend.to_numpy(v))) < p["loop_limit"]:
            v = backend.mul(v, backend.tensor(np.array(2.0), dtype))
        return backend.sum(v)

    value, (grad,) = backend.vjp(loop, [np.array([p["loop_start"]])], dtype, None)
    expect_close("value after the loop", np.reshape(value, -1), np.array([e["loop_value"]]), dtype)
    expect_close(
        "gradient through the loop", np.reshape(grad, -1), np.array([e["loop_grad"]]), dtype
    )


def _two_passes(backend: Any, dtype: str) -> tuple[dict[str, Any], str]:
    """LR-2's example: the spec's passes over fresh worked-example graphs from m and n."""
    spec = claim("LR-2")
    require(backend, *spec.requires)
    m = backend.tensor(np.array([spec.params["m"]]), dtype, requires_grad=True)
    n = backend.tensor(np.array([spec.params["n"]]), dtype, requires_grad=True)
    passes = spec.params["passes"]
    for _ in range(passes):  # a fresh graph from the same leaves each pass, as in training
        backend.backward(_worked_fn(backend)(m, n))
    repro = snippet(
        backend,
        f"m = bk.tensor(np.array([{spec.params['m']!r}]), {dtype!r}, requires_grad=True)",
        f"n = bk.tensor(np.array([{spec.params['n']!r}]), {dtype!r}, requires_grad=True)",
        f"for _ in range({passes}): bk.backward({WORKED.removeprefix('y = ')})",
        "print(bk.grad(m), bk.grad(n))",
        "bk.zero_grad(m); bk.zero_grad(n); print(bk.grad(m), bk.grad(n))",
    )
    return {"m": m, "n": n}, repro


@pytest.mark.claim("LR-2")
def test_two_backward_passes_double_the_gradient(backend: Any, dtype: str) -> None:
    """Without zeroing, two passes over fresh graphs leave 8 and -12 in m and n."""
    spec = claim("LR-2")
    t, repro = _two_passes(backend, dtype)
    for name, leaf in t.items():
        got = backend.grad(leaf)
        expect_equal(
            f"grad of {name} after {spec.params['passes']} passes",
            None if got is None else np.reshape(got, -1),
            np.array([spec.expected[f"{name}_grad"]]),
            repro,
        )


@pytest.mark.claim("LR-2")
def test_zeroing_clears_the_gradient_of_several_passes(backend: Any, dtype: str) -> None:
    """After the passes, zero_grad leaves m's and n's gradients at 0."""
    t, repro = _two_passes(backend, dtype)
    for name, leaf in t.items():
        backend.zero_grad(leaf)
        got = backend.grad(leaf)
        # zeroing may clear the gradient or fill it with zeros; both read as 0
        expect_equal(
            f"grad of {name} after zeroing",
            np.zeros(1) if got is None else np.reshape(got, -1),
            np.zeros(1),
            repro,
        )


@pytest.mark.claim("LR-2")
def test_separate_leaves_accumulate_into_separate_gradients(backend: Any, dtype: str) -> None:
    """Two 0-d leaves summed into one output each accumulate their own gradient per pass."""
    spec = claim("LR-2")
    require(backend, *spec.requires)
    passes = spec.params["passes"]
    a = backend.tensor(np.array(1.0), dtype, requires_grad=True)
    b = backend.tensor(np.array(-1.0), dtype, requires_grad=True)
    for _ in range(passes):  # a fresh graph each pass, as a training loop builds
        backend.backward(backend.add(backend.sum(a), backend.sum(b)))
    repro = snippet(
        backend,
        f"a = bk.tensor(np.array(1.0), {dtype!r}, requires_grad=True)",
        f"b = bk.tensor(np.array(-1.0), {dtype!r}, requires_grad=True)",
        f"for _ in range({passes}): bk.backward(bk.add(bk.sum(a), bk.sum(b)))",
        "print(bk.grad(a), bk.grad(b))",
    )
    # d(sum(a) + sum(b))/da = 1 in each pass, and likewise for b
    for name, leaf in (("a", a), ("b", b)):
        got = backend.grad(leaf)
        expect_equal(
            f"grad of {name} after {passes} passes",
            None if got is None else np.reshape(got, ()),
            np.array(float(passes)),
            repro,
        )


@pytest.mark.claim("LR-3")
def test_an_untracked_update_keeps_the_parameter_a_leaf_with_the_new_value(
    backend: Any, dtype: str
) -> None:
    """After an in-place update outside the graph, w is still a tracked leaf and used anew."""
    spec = claim("LR-3")
    require(backend, *spec.requires)
    p, e = spec.params, spec.expected
    w = backend.tensor(np.array([p["w"]]), dtype, requires_grad=True)
    x = backend.tensor(np.array([p["x"]]), dtype)
    backend.update_(w, np.array([p["delta"]]))
    repro = snippet(
        backend,
        f"w = bk.tensor(np.array([{p['w']!r}]), {dtype!r}, requires_grad=True)",
        f"x = bk.tensor(np.array([{p['x']!r}]), {dtype!r})",
        f"bk.update_(w, np.array([{p['delta']!r}])); y = bk.sum(bk.mul(w, x)); bk.backward(y)",
        "print(bk.to_numpy(w), bk.is_leaf(w), bk.to_numpy(y), bk.grad(w))",
    )
    expect_equal("is_leaf(w) after the update", backend.is_leaf(w), True, repro)
    expect_close(
        "value of w after the update",
        np.reshape(backend.to_numpy(w), -1),
        np.array([e["w_after"]]),
        dtype,
        repro=repro,
    )
    y = backend.sum(backend.mul(w, x))
    expect_close(
        "next forward value",
        np.reshape(backend.to_numpy(y), -1),
        np.array([e["y_after"]]),
        dtype,
        repro=repro,
    )
    backend.backward(y)
    got = backend.grad(w)
    expect_close(
        "gradient after the update",
        None if got is None else np.reshape(got, -1),
        np.array([e["grad_after"]]),
        dtype,
        repro=repro,
    )
