"""The package's names load lazily but behave as eager imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import chat_domain
import pytest


@pytest.mark.parametrize("name", chat_domain.__all__)
def test_every_exported_name_is_the_object_of_its_module(name: str) -> None:
    value = getattr(chat_domain, name)
    module = importlib.import_module(chat_domain._WHERE[name])
    assert value is getattr(module, name)


def test_from_import_and_submodule_attributes_work() -> None:
    from chat_domain import GroupChatId, decide

    assert callable(decide)
    assert GroupChatId.__module__ == "chat_domain.ids"
    assert chat_domain.codec.encode is chat_domain.encode
    assert "decide" in dir(chat_domain)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = chat_domain.no_such_name


def test_importing_ids_leaves_the_codec_events_and_decider_unloaded() -> None:
    code = (
        "import sys\n"
        "from chat_domain.ids import UserAccountId\n"
        "from chat_domain.errors import ValidationError\n"
        "print(sorted(m for m in ('chat_domain.codec', 'chat_domain.events', "
        "'chat_domain.decider', 'chat_domain.state') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
