"""No dead ends, through ``gradio_client``: every refusal names its field and says what to do, in the user's words.

Also the pure helpers behind it (``plain_message``, ``number_field``), which need no app.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from genemail.app_ui.common import LONG_TOKEN, number_field, plain_message, shorten
from genemail.errors import DataError

# What never belongs in a message to a marketer.
DEVELOPER_WORDS = re.compile(r"/tmp/|docs/|\.md\b|--[a-z]|schema|python -m|genemail |Traceback|"
                             r"is less than minimum|is greater than maximum")


def test_plain_message_drops_paths_commands_doc_files_and_schema_names() -> None:
    raw = ("/tmp/gradio/4f2a9c/broken.csv, header: missing required columns for the prd schema: ID, Age (found: "
           "just, some). Fix: add or rename those columns; the PRD schema needs ID; the Kaggle schema needs its raw "
           "columns (see docs/DATA.md). Or write it with `genemail campaign --experiment NAME`.")
    text = plain_message(raw)
    assert text.startswith("broken.csv, header: missing required columns: ID, Age")
    assert not DEVELOPER_WORDS.search(text), text
    assert "http://127.0.0.1:8765/api/models" in plain_message("see http://127.0.0.1:8765/api/models")  # URLs stay


def test_long_values_are_shortened_with_their_length() -> None:
    text = plain_message(f"customer table: unknown customer ID '{'x' * 6000}'. Fix: pick one.")
    assert "(6,000 characters)" in text and len(text) < 200
    assert shorten("abc") == "abc" and len(shorten("y" * 500)) <= LONG_TOKEN + 20


@pytest.mark.parametrize(("value", "expected"), [
    (-7, "Seed: -7 is out of range. Fix: enter a number from 0 to 10"),
    (2.5, "Seed: 2.5 is not a whole number"),
    ("abc", "Seed: 'abc' is not a number"),
    (None, "Seed: is empty"),
])
def test_number_field_names_the_field_and_the_range(value, expected) -> None:
    with pytest.raises(DataError) as err:
        number_field(value, "Seed", low=0, high=10, whole=True)
    assert str(err.value).startswith(expected)
    assert number_field("7", "Seed", low=0, high=10, whole=True) == 7
    assert number_field("", "Income", low=0, required=False) is None


@pytest.fixture
def client(app_url: str):
    from tests.fixtures.app import app_client

    return app_client(app_url)


def _refused(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api_name)
    message = str(err.value)
    assert not DEVELOPER_WORDS.search(message), message
    return message


@pytest.mark.integration
def test_out_of_range_settings_are_refused_with_the_field_name(client, app_service) -> None:
    cid = app_service.customer_ids(1)[0]
    assert _refused(client, cid, 12, 7, 0, api_name="/compose").startswith("Variety: 7 is out of range")
    assert _refused(client, cid, 12, 0, -7, api_name="/regenerate").startswith("Seed: -7 is out of range")
    assert _refused(client, cid, 5000, 0, 0, api_name="/compose").startswith("Email length: 5,000 is out of range")
    assert "Number of demo customers" in _refused(client, None, 0, 8, api_name="/campaign")
    assert "Control share (%)" in _refused(client, None, 5, 8, "exp-x", 95, 10, 0, api_name="/campaign")
    assert "Experiment name" in _refused(client, None, 5, 8, "bad name!", 20, 10, 0, api_name="/campaign")
    client.predict(cid, api_name="/next_pair")
    assert _refused(client, "ann", "A", 9, 3, "", api_name="/rate").startswith("Style match of A (1-5): 9 is out")


@pytest.mark.integration
def test_new_customer_form_messages_name_the_form_and_its_fields(client) -> None:
    blank = _refused(client, "", "", "", "", "", "", "", "", 8, 0, 0, api_name="/compose_new")
    assert blank.startswith("New customer: the form is empty") and "row 1" not in blank
    absurd = _refused(client, "999", "", "", "", "", "", "", "", 8, 0, 0, api_name="/compose_new")
    assert absurd.startswith("Age: 999 is out of range") and "18 to 110" in absurd
    family = _refused(client, "40", "", "", "", "", "", "90", "", 8, 0, 0, api_name="/compose_new")
    assert family.startswith("Family size: 90 is out of range")
    out = client.predict("40", "F", "", "", "52000", "none", "2", "12", 8, 0, 0, api_name="/compose_new")
    assert out[3].strip() and "Segment:" in out[1]


@pytest.mark.integration
def test_a_long_id_is_shortened_in_the_message(client) -> None:
    message = _refused(client, "x" * 6000, 12, 0, 0, api_name="/compose")
    assert "(6,000 characters)" in message and len(message) < 400


def test_the_app_keeps_uploads_in_this_users_own_folder(monkeypatch) -> None:
    """Not in <tmp>/gradio, which belongs to whoever ran a Gradio app first; a set GRADIO_TEMP_DIR wins."""
    import os

    from gradio.utils import get_upload_folder

    from app import use_own_upload_folder

    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    use_own_upload_folder()
    assert get_upload_folder() == str(Path(tempfile.gettempdir()) / f"gradio-{os.getuid()}")
    monkeypatch.setenv("GRADIO_TEMP_DIR", "/somewhere/chosen")
    use_own_upload_folder()
    assert get_upload_folder() == "/somewhere/chosen"


@pytest.mark.integration
def test_uploads_are_checked_as_they_arrive(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01junk" * 1000)
    value, status = client.predict(handle_file(str(junk)), api_name="/campaign_file")
    assert value is None and "junk.csv" in status and "binary" in status
    assert "/tmp/" not in status and tempfile.gettempdir() not in status  # $TMPDIR may lie elsewhere
    big = tmp_path / "big.csv"
    big.write_bytes(b"ID,Age\n" + b"1,30\n" * 2_200_000)  # about 11 MB
    value, status = client.predict(handle_file(str(big)), api_name="/campaign_file")
    assert value is None and "MB allowed" in status and "big.csv" in status
    good = tmp_path / "good.csv"
    good.write_text("ID;Gender;Age;Education;Marital_Status;Income;KidAge;Familysize;Recency\n"
                    "n1;F;34;Master;Married;61000;young;3;12\n", encoding="utf-8")
    _, status = client.predict(handle_file(str(good)), api_name="/campaign_file")
    assert status.startswith("✅")
    wrong = tmp_path / "notes.docx"
    wrong.write_bytes(b"PK\x03\x04")
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="one of these formats"):  # Gradio's own type check, at the upload
        client.predict(handle_file(str(wrong)), api_name="/outcome_file")


@pytest.mark.integration
def test_a_failed_switch_keeps_the_release_in_use(client, app_service) -> None:
    message = _refused(client, "v404", api_name="/release")
    assert "v404" in message and app_service.snapshot.revision == "v1"
    info, table, details = client.predict(api_name="/release_info")
    assert "**v1**" in info and table["value"]["data"]
