"""The aiortc internals media/ relies on are still there (fails loudly on an aiortc upgrade)."""
import aiortc
import pytest

from media import internals


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == "1.16.0", (
        f"aiortc {aiortc.__version__} installed; media/ reaches into aiortc 1.16.0 internals "
        "(media/internals.py). Re-check every name there before changing the pin.")


def test_every_private_name_and_signature_exists() -> None:
    found = internals.problems()
    assert not found, "aiortc internals used by media/ changed:\n  " + "\n  ".join(found)


def test_a_changed_srtp_protect_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # media/_outlet.c calls srtp_protect through a raw address: a libsrtp 3 signature must stop the suite
    monkeypatch.setattr(internals, "SRTP_PROTECT_TYPE", "srtp_err_status_t(*)(struct srtp_ctx_t_ *, uint8_t *, size_t)")
    assert any("srtp_protect is" in p for p in internals._srtp_problems())
    assert any("srtp_unprotect is" in p for p in internals._srtp_problems())


def test_a_changed_receiver_state_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # media/_inlet.c keeps aiortc's StreamStatistics and NackGenerator as their add() does: if
    # that code or those attributes change, the suite stops before the two paths drift apart
    monkeypatch.setitem(internals.INLET_SOURCE, "NackGenerator.truncate", ("min_seq = self.max_seq - 64",))
    monkeypatch.setattr(internals, "STATS_ATTRS", internals.STATS_ATTRS + ("_jitter",))
    monkeypatch.setattr(internals, "NACK_WINDOW", 256)
    found = internals._source_problems()
    assert any("NackGenerator.truncate no longer contains" in p for p in found)
    assert any("StreamStatistics has no attribute _jitter" in p for p in found)
    assert any("RTP_HISTORY_SIZE is not 256" in p for p in found)


def test_a_renamed_asyncio_socket_attribute_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # a Path sends on asyncio's own socket object (media.sfu._socket_of)
    monkeypatch.setattr(internals, "ASYNCIO_SOCK", "_socket")
    found = internals._source_problems()
    assert any("_SelectorDatagramTransport.__init__ no longer contains 'self._socket = sock'" in p for p in found)
