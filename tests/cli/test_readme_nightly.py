"""The README's nightly job (issue 12), run as written: its shell block is taken from README.md,
with today's dates for the lists' as-of dates (so --max-age 7d passes whenever the test runs),
against small files made here."""

import datetime
import json
import re
import subprocess
from pathlib import Path

from conftest import binary, valid_numbers, write_lines

README = Path(__file__).resolve().parents[2] / "README.md"


def nightly_block():
    text = README.read_text()
    start = text.index("### A nightly job")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block, "README.md: no ```sh block after '### A nightly job'"
    return block.group(1)


def test_the_readme_nightly_job_releases_a_clean_file_and_names_later_opt_outs(tmp_path):
    nums = valid_numbers(30, seed=12)
    national, type1, later, patients = nums[:5], nums[5:7], nums[7:9], nums[9:]
    today = datetime.date.today()
    # The script's dates become today's (below), so the check service's reply is named by today.
    write_lines(tmp_path / f"ndoo-{today.isoformat()}.dat", [n + "," for n in national])
    write_lines(tmp_path / "type1.txt", type1)
    # The extract: every patient once, opted-out ones included, then the ones who opt out later.
    rows = [f"e{i},{n}" for i, n in enumerate(national + type1 + patients + later)]
    (tmp_path / "hes.csv").write_text("episode_id,nhs_number\n" + "\n".join(rows) + "\n")
    (tmp_path / "release").mkdir()
    (tmp_path / "published").mkdir()

    script = nightly_block().replace("2026-12-07", today.isoformat())
    script = script.replace("2026-12-06", (today - datetime.timedelta(days=1)).isoformat())
    # What "publish" means here, and the later registry and old release the recipient holds.
    write_lines(tmp_path / "later.txt", later)
    prelude = (
        f'export PATH="{Path(binary()).parent}:$PATH"\n'
        'publish() { cp "$1" published/; }\n'
    )
    # The recipient's part needs the newer registry and the old release: made after the release.
    head, recipient = script.split("# A recipient", 1)
    epilogue = (
        "optout build --base reg.optout --add national=later.txt --sign nightly.key -o reg-2027-03-01.optout -q\n"
        f"cp release/hes.csv hes-{today.isoformat()}.csv\n"
        "# A recipient" + recipient
    )
    first = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + head], cwd=tmp_path, capture_output=True,
                           timeout=120)
    assert first.returncode == 0, first
    released = (tmp_path / "published" / "hes.csv").read_text()
    assert released == "episode_id,nhs_number\n" + "".join(
        f"e{i},{n}\n" for i, n in enumerate(national + type1 + patients + later) if i >= 7)
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["committing", "ok"]
    assert all("signature" in r for r in records)
    assert [(x["name"], x["as_of"]) for x in records[1]["lists"]] == [
        ("national", today.isoformat()), ("type1", (today - datetime.timedelta(days=1)).isoformat())]

    second = subprocess.run(["bash", "-uo", "pipefail", "-c", prelude + epilogue], cwd=tmp_path, capture_output=True,
                            timeout=120)
    assert second.returncode == 1 and b"2 rows named" in second.stderr, second  # rows matched: the old release is no longer clean
    first_later = len(national + type1 + patients)
    assert (tmp_path / "delete-these.txt").read_text() == f"e{first_later}\ne{first_later + 1}\n"
