"""The README's policy worked example (issue 14), run as written: its shell block is taken from
README.md and run against small files made here; the released files are checked against Python's
own set logic, and each "ok" audit record against the keys the README shows for it."""

import json
import re
import subprocess
from pathlib import Path

from conftest import binary, valid_numbers, write_lines

README = Path(__file__).resolve().parents[2] / "README.md"


def example_blocks():
    text = README.read_text()
    start = text.index("#### Worked example: three releases of one extract")
    sh = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    shown = re.search(r"```json\n(.*?)```", text[start:], re.S)
    assert sh and shown, "README.md: no ```sh and ```json blocks after the worked example's heading"
    return sh.group(1), [json.loads(line) for line in shown.group(1).splitlines()]


def test_the_readme_policy_example_releases_by_purpose_and_records_why(tmp_path):
    nums = valid_numbers(20, seed=21)
    national, type1, fdp, others = nums[:5], nums[5:7], nums[7:9], nums[9:]
    write_lines(tmp_path / "ndoo-2026-12-07.dat", [n + "," for n in national])
    write_lines(tmp_path / "type1.txt", type1)
    (tmp_path / "fdp-objections.csv").write_text(
        "nhs_number,scope,reference,decided\n" + "".join(f"{n},fdp,A21-00{i},2026-11-0{i + 1}\n"
                                                        for i, n in enumerate(fdp)))
    patients = national + type1 + fdp + others
    (tmp_path / "hes.csv").write_text("episode_id,nhs_number\n" + "".join(f"e{i},{n}\n" for i, n in enumerate(patients)))

    script, shown = example_blocks()
    prelude = f'export PATH="{Path(binary()).parent}:$PATH"\n'
    ran = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + script], cwd=tmp_path, capture_output=True,
                         timeout=120)
    assert ran.returncode == 0 and ran.stderr == b"", ran

    def released(removed):
        return "episode_id,nhs_number\n" + "".join(
            f"e{i},{n}\n" for i, n in enumerate(patients) if n not in set(removed))

    assert (tmp_path / "hes-research.csv").read_text() == released(national + type1)
    assert (tmp_path / "hes-planning.csv").read_text() == released(type1)
    assert (tmp_path / "hes-fdp.csv").read_text() == released(fdp + type1)

    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["committing", "ok"] * 3
    ok = [r for r in records if r["outcome"] == "ok"]
    assert len(shown) == 3
    for record, keys in zip(ok, shown):
        assert {k: record[k] for k in keys} == keys
    assert [r["removed"] for r in ok] == [7, 2, 4]
