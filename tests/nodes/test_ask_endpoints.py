"""The `ask` bridge owns outside sockets: they stay private to this user and this machine."""

import os
import stat

import pytest

from ar_perception.errors import NodeError
from ar_perception.nodes import ask as ask_module
from ar_perception.nodes.ask import Ask, AskReply


def test_tcp_beyond_loopback_is_refused():
    node = Ask(Ask.Params(endpoint="tcp://10.0.0.5:5555"), node_id="ask")
    with pytest.raises(NodeError) as e:
        node.setup()
    assert str(e.value) == (
        "node 'ask': tcp://10.0.0.5:5555 can be reached from other machines and this socket has "
        "no keys (expected ipc:// or tcp://127.0.0.1:PORT; ask from elsewhere through an SSH "
        "tunnel)"
    )


def test_default_sockets_live_in_a_private_folder(tmp_path, monkeypatch):
    folder = tmp_path / "user"
    monkeypatch.setattr(ask_module, "USER_DIR", str(folder))
    monkeypatch.setattr(ask_module, "ASK_ENDPOINT", f"ipc://{folder}/ask")
    node = AskReply(AskReply.Params(endpoint=f"ipc://{folder}/ask"), node_id="reply")
    node.setup()
    try:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(folder / "ask").st_mode) == 0o600
    finally:
        node.teardown()

    os.chmod(folder, 0o777)  # another user could have planted sockets here
    with pytest.raises(NodeError) as e:
        AskReply(AskReply.Params(endpoint=f"ipc://{folder}/ask"), node_id="reply").setup()
    assert str(e.value) == (
        f"node 'reply': {folder} must be a folder owned by this user with mode 0700 "
        "(got uid %d, mode 0o777); remove it and run again" % os.getuid()
    )
