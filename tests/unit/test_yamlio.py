"""libyaml is only a speed-up: text written and data or errors read are exactly PyYAML's pure-Python ones."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from packs import yamlio

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML is built without libyaml here")

PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
ANY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=PRINTABLE, max_size=300),
    # Long text with spaces, quotes, escapes and line breaks: where the C emitter folds differently.
    st.text(alphabet="ab :-#'\"\n\t\\\x85é", max_size=300),
)
SCALARS = st.one_of(ANY_TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.one_of(ANY_TEXT, st.integers()), inner, max_size=4),
    max_leaves=25,
)
OPTIONS = st.sampled_from(
    [{}, {"sort_keys": False}, {"sort_keys": False, "default_flow_style": False}, {"default_flow_style": None}]
)


def _pem(label: str, size: int) -> str:
    """A deterministic certificate-sized base64 blob, as k3s writes them."""
    raw = b"".join(hashlib.sha256(f"{label}{i}".encode()).digest() for i in range(size // 32 + 1))[:size]
    return base64.b64encode(raw).decode()


K3S_KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "clusters": [
        {
            "cluster": {"certificate-authority-data": _pem("ca", 570), "server": "https://10.0.0.2:6443"},
            "name": "eu-west-fr-00001",
        }
    ],
    "contexts": [{"context": {"cluster": "eu-west-fr-00001", "user": "eu-west-fr-00001"}, "name": "eu-west-fr-00001"}],
    "current-context": "eu-west-fr-00001",
    "kind": "Config",
    "preferences": {},
    "users": [
        {
            "name": "eu-west-fr-00001",
            "user": {"client-certificate-data": _pem("crt", 580), "client-key-data": _pem("key", 220)},
        }
    ],
}


@settings(max_examples=800, deadline=None)
@given(DOCS, OPTIONS)
def test_dump_is_byte_identical_to_the_pure_python_emitter(doc: Any, options: dict[str, Any]) -> None:
    """Resource inputs are rendered with it: one changed byte would be a diff on every site."""
    assert yamlio.safe_dump(doc, **options) == yaml.dump(doc, Dumper=yaml.SafeDumper, **options)


def test_plain_documents_go_through_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed-up is real: a kubeconfig is emitted by libyaml, a document needing escapes is not."""
    used: list[type] = []
    real = yaml.dump

    def spy(data: Any, stream: Any = None, Dumper: type = yaml.Dumper, **kw: Any) -> Any:
        used.append(Dumper)
        return real(data, stream, Dumper=Dumper, **kw)

    monkeypatch.setattr(yaml, "dump", spy)
    yamlio.safe_dump(K3S_KUBECONFIG, sort_keys=False)
    yamlio.safe_dump({"motd": "bienvenue à l'usine"})
    assert used == [yaml.CSafeDumper, yaml.SafeDumper]


@settings(max_examples=500, deadline=None)
@given(DOCS, OPTIONS)
def test_load_reads_what_the_pure_python_loader_reads(doc: Any, options: dict[str, Any]) -> None:
    text = yaml.dump(doc, Dumper=yaml.SafeDumper, **options)
    assert yamlio.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize(
    "text",
    [
        "a: b: c\n",
        "clusters:\n- name: x\n  cluster: {server: https://h:6443\n",
        "key: [1, 2\nother: 3\n",
        "a:\n\t- b\n",
        "- a\nb: c\n",
    ],
)
def test_errors_are_the_pure_python_loaders(text: str) -> None:
    """Users see the same message, line and column as before (the C parser words its errors differently)."""
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.load(text, Loader=yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError) as got:
        yamlio.safe_load(text)
    assert str(got.value) == str(expected.value)
