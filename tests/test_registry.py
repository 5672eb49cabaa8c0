"""The generic name → class registry every plug-in kind uses."""

import pytest

from vlaforge.errors import ConfigError
from vlaforge.registry import Registry


def test_register_lookup_and_errors():
    reg = Registry("widget")

    @reg.register("a")
    class A:
        pass

    assert reg.lookup("a") is A and A.name == "a" and reg.names() == ["a"]
    with pytest.raises(ConfigError, match=r"unknown widget 'b'; choose one of \['a'\]"):
        reg.lookup("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))


def test_builtins_are_imported_on_first_lookup():
    reg = Registry("thing", ["vlaforge.models.heads.chunk"])
    assert not dict.__len__(reg)  # nothing imported yet
    reg.load()  # the module registers into the models registry, not this one; loading is idempotent
    assert reg.names() == []
