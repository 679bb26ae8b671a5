"""The "train on your favourite series" check: fine-tune `manga` on one art style, score that style.

    python scripts/finetune_demo.py --source openmoji --steps 300 --write docs/FINETUNE.md

What it does, with the user-facing commands (printed as they run):
1. the training folder is the corpus's VALIDATION images of one source (one art style, never
   used to train the shipped models, never in an evaluation set);
2. the evaluation folder is that source's held-out pages in build/finetune/<source>-eval: its
   pages of `data/eval/manga` (made from the corpus's TEST split), or, for a source that set
   leaves out (the emoji), its TEST split images rendered as manga pages the same way;
3. `irodori evaluate manga` on it (before), `irodori train <folder> --init manga --preset manga
   --steps N`, `irodori export` of the result, `irodori evaluate <exported .onnx>` (after);
4. with --write, the table and the commands go between the FINETUNE markers of that Markdown file,
   the figures into docs/finetune-eval.json, and a sheet (manga input | truth | before | after)
   into docs/images/finetune-sheet.jpg.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from docsplice import splice
from evaluate_models import pair_sheet
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- FINETUNE:BEGIN (scripts/finetune_demo.py) -->", "<!-- FINETUNE:END -->"


def run(cmd: list[str]) -> float:
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - t0


def eval_subset(eval_set: Path, corpus: Path, source: str, dest: Path) -> int:
    """The held-out manga pages of one source, as a paired set (input/ + truth/ + manifest): its
    pages of the evaluation set, or, for a source the set leaves out (emoji), its TEST split
    images rendered as manga pages exactly as the set renders them (corpus.evalsets.manga_page)."""
    shutil.rmtree(dest, ignore_errors=True)
    for part in ("input", "truth"):
        (dest / part).mkdir(parents=True)
    rows = [json.loads(x) for x in (eval_set / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["source"] == source]
    for r in rows:
        shutil.copyfile(eval_set / r["input"], dest / r["input"])
        shutil.copyfile(eval_set / r["truth"], dest / r["truth"])
    if not rows:
        from corpus.evalsets import manga_page, write_pair
        from irodori.color import rgb_to_l

        records = [json.loads(x) for x in (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        for r in sorted((r for r in records if r["source"] == source and r["split"] == "test"), key=lambda r: r["path"]):
            stem = f"{source}__{Path(r['path']).stem}"
            l_page, seed = manga_page(rgb_to_l(np.asarray(Image.open(corpus / r["path"]).convert("RGB"))), stem)
            write_pair(dest, stem, l_page, corpus / r["path"])
            rows.append({"name": stem, "input": f"input/{stem}.png", "truth": f"truth/{stem}.jpg", "mode": "manga",
                         "seed": seed, "source": source, "corpus_path": r["path"], "license": r["license"]})
    (dest / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="openmoji", help="corpus source = the art style")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--model", default="manga", help="shipped model to start from")
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus-full"))
    parser.add_argument("--eval-set", default=str(REPO / "data" / "eval" / "manga"))
    parser.add_argument("--work", default=str(REPO / "build" / "finetune"))
    parser.add_argument("--write", default=None, help="Markdown file with the FINETUNE markers")
    args = parser.parse_args(argv)

    train_dir = Path(args.corpus) / "val" / args.source
    if not train_dir.is_dir() or not Path(args.eval_set).is_dir():
        print(f"{train_dir} or {args.eval_set} missing: run `make corpus-full` first", file=sys.stderr)
        return 1
    work = Path(args.work)
    eval_dir = work / f"{args.source}-eval"
    n_eval = eval_subset(Path(args.eval_set), Path(args.corpus), args.source, eval_dir)
    n_train = sum(1 for p in train_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if n_eval < 2 or n_train < 2:
        print(f"{args.source}: {n_train} training and {n_eval} evaluation images; too few", file=sys.stderr)
        return 1
    run_dir, onnx = work / f"{args.source}-run", work / f"{args.model}-{args.source}.onnx"
    shutil.rmtree(run_dir, ignore_errors=True)
    irodori = [sys.executable, "-m", "irodori"]
    rel = lambda p: str(Path(p).resolve().relative_to(REPO))  # commands as a user types them

    before_json, after_json = work / "before.json", work / "after.json"
    run(irodori + ["evaluate", args.model, rel(eval_dir), "--json", rel(before_json), "-q"])
    train_cmd = irodori + ["train", rel(train_dir), "--init", args.model, "--preset", "manga",
                           f"--steps={args.steps}", "--out", rel(run_dir), "-q"]
    wall = run(train_cmd)
    run(irodori + ["export", rel(run_dir), "-o", rel(onnx), "--name", f"{args.model}-{args.source}"])
    run(irodori + ["evaluate", rel(onnx), rel(eval_dir), "--json", rel(after_json), "-q"])
    before, after = json.loads(before_json.read_text()), json.loads(after_json.read_text())
    gains = [a["psnr"] - b["psnr"] for b, a in zip(before["per_image"], after["per_image"])]  # same sorted pairs

    def line(label: str, side: dict) -> str:
        return (f"| {label} | {side['psnr']:.2f} | {side['ssim']:.3f} | {side['colorfulness_ratio']:.0%} "
                f"| {side['delta_cf']:.1f} | {side['fd']:.2f} |")

    table = "\n".join([
        (f"`{args.source}` pages rendered as manga: fine-tuned on its {n_train} validation images, "
         f"scored on its {n_eval} held-out (test split) pages rendered as manga; {args.steps} steps, "
         f"{wall / 60:.1f} min on this machine's CPU (`python scripts/finetune_demo.py`)."), "",
        "| | PSNR (dB) | SSIM | CF / truth | ΔCF | FD |", "|---|---:|---:|---:|---:|---:|",
        line(f"`{args.model}` as shipped", before["prediction"]),
        line(f"`{args.model}` fine-tuned", after["prediction"]),
        line("grayscale baseline", before["grayscale"]), "",
        f"PSNR rose on {sum(g > 0 for g in gains)} of the {n_eval} pages.", "",
        "The commands it ran, and how the result is then used:", "", "```",
        *(shlex.join(["irodori"] + c[3:]) for c in [
            irodori + ["train", rel(train_dir), "--init", args.model, "--preset", "manga", f"--steps={args.steps}",
                       "--out", rel(run_dir)],
            irodori + ["export", rel(run_dir), "-o", rel(onnx)],
            irodori + ["colorize", "my-pages/", "-o", "coloured/", "--model", rel(onnx)]]),
        "```"])
    print(table)
    if args.write:
        splice(Path(args.write), BEGIN, END, table)
        names = [b["image"] for b in before["per_image"]][:: max(1, n_eval // 4)][:4]  # spread, not picked by score
        record = {"source": args.source, "steps": args.steps, "train_images": n_train, "eval_images": n_eval,
                  "train_wall_s": round(wall, 1), "images_improved": sum(g > 0 for g in gains),
                  "before": {k: v for k, v in before.items() if k != "per_image"},
                  "after": {k: v for k, v in after.items() if k != "per_image"}, "psnr_gain_per_image": gains}
        (REPO / "docs" / "finetune-eval.json").write_text(json.dumps(record, indent=2) + "\n")
        pair_sheet([args.model, str(onnx)], eval_dir, names, REPO / "docs" / "images" / "finetune-sheet.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
