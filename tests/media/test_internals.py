"""The aiortc internals media/ relies on are still there (fails loudly on an aiortc upgrade)."""
import aiortc

from media import internals


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == "1.16.0", (
        f"aiortc {aiortc.__version__} installed; media/ reaches into aiortc 1.16.0 internals "
        "(media/internals.py). Re-check every name there before changing the pin.")


def test_every_private_name_and_signature_exists() -> None:
    found = internals.problems()
    assert not found, "aiortc internals used by media/ changed:\n  " + "\n  ".join(found)
