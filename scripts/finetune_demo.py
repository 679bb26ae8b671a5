"""The "train on your favourite series" check: fine-tune a shipped model on one art style, score that style.

    python scripts/finetune_demo.py --source openmoji --steps 300 --write docs/FINETUNE.md
    python scripts/finetune_demo.py --source wesnoth --corpus data/corpus-art --train-split train \
        --n-train 9 --preset finetune --score-split val      # choosing lr / steps: never on test

What it does, with the user-facing commands (printed as they run):
1. the training folder is one source's images of ``--train-split`` (VALIDATION by default: one art
   style, never used to train the shipped models), all of them or ``--n-train`` evenly spread ones
   (copied to build/finetune/<source>-train);
2. the evaluation folder is that source's held-out pages of ``--score-split`` in
   build/finetune/<source>-eval: its pages of `data/eval/manga` (made from the corpus's TEST split)
   when that set holds the source, else its images of the split rendered as manga pages the same
   way (``--look grey``: their grey L instead);
3. `irodori evaluate MODEL` on it (before), `irodori train <folder> --init MODEL --preset P
   --steps N`, `irodori export` of the result, `irodori evaluate <exported .onnx>` (after); with
   ``--int8`` also `irodori export --int8` (calibrated on the training folder) and its score;
4. with --write, the table and the commands go between the FINETUNE markers of that Markdown file
   (FINETUNE-BLOCK with --block BLOCK), the figures into docs/finetune-eval[-BLOCK].json, and a
   sheet (input | truth | before | after) into docs/images/finetune-sheet[-BLOCK].jpg.
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


def markers(block: str) -> tuple[str, str]:
    """The Markdown markers of one result block ("" = the first, FINETUNE; else FINETUNE-BLOCK)."""
    name = f"FINETUNE-{block}" if block else "FINETUNE"
    return f"<!-- {name}:BEGIN (scripts/finetune_demo.py) -->", f"<!-- {name}:END -->"


def run(cmd: list[str]) -> float:
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - t0


def eval_subset(eval_set: Path, corpus: Path, source: str, dest: Path, *, split: str = "test",
                look: str = "manga") -> int:
    """The held-out pages of one source, as a paired set (input/ + truth/ + manifest): its pages
    of the evaluation set (test split, manga look), or else its images of ``split`` rendered as
    manga pages exactly as the set renders them (corpus.evalsets.manga_page), or their grey L."""
    shutil.rmtree(dest, ignore_errors=True)
    for part in ("input", "truth"):
        (dest / part).mkdir(parents=True)
    rows = []
    if split == "test" and look == "manga" and (eval_set / "manifest.jsonl").is_file():
        rows = [json.loads(x) for x in (eval_set / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        rows = [r for r in rows if r["source"] == source]
    for r in rows:
        shutil.copyfile(eval_set / r["input"], dest / r["input"])
        shutil.copyfile(eval_set / r["truth"], dest / r["truth"])
    if not rows:
        from corpus.evalsets import manga_page, write_pair
        from irodori.color import rgb_to_l

        records = [json.loads(x) for x in (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        for r in sorted((r for r in records if r["source"] == source and r["split"] == split), key=lambda r: r["path"]):
            stem = f"{source}__{Path(r['path']).stem}"
            l_full = rgb_to_l(np.asarray(Image.open(corpus / r["path"]).convert("RGB")))
            l_page, seed = manga_page(l_full, stem) if look == "manga" else (l_full, None)
            write_pair(dest, stem, l_page, corpus / r["path"])
            rows.append({"name": stem, "input": f"input/{stem}.png", "truth": f"truth/{stem}.jpg", "mode": look,
                         "seed": seed, "source": source, "corpus_path": r["path"], "license": r["license"]})
    (dest / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def training_folder(split_dir: Path, dest: Path, n: int) -> Path:
    """``split_dir`` itself, or (``n`` > 0) a copy of ``n`` of its images evenly spread over its
    sorted names (not picked by content)."""
    if not n:
        return split_dir
    files = sorted(p for p in split_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for p in files[:: max(1, len(files) // n)][:n]:
        shutil.copyfile(p, dest / p.name)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="openmoji", help="corpus source = the art style")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--model", default="manga", help="shipped model to start from")
    parser.add_argument("--preset", default="manga", help="training preset (finetune: the few-page one)")
    parser.add_argument("--look", choices=["manga", "grey"], default="manga",
                        help="train and score on pages rendered as manga (--data.manga_prob=1) or on grey L (0)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="more training overrides, e.g. --set optim.lr=0.001 (repeatable)")
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus-full"))
    parser.add_argument("--train-split", default="val", help="split the training images come from")
    parser.add_argument("--n-train", type=int, default=0, help="that many evenly spread images (0 = all)")
    parser.add_argument("--score-split", default="test", help="split scored (val while choosing settings)")
    parser.add_argument("--eval-set", default=str(REPO / "data" / "eval" / "manga"))
    parser.add_argument("--work", default=str(REPO / "build" / "finetune"))
    parser.add_argument("--tag", default="", help="suffix of the run's folders (several settings side by side)")
    parser.add_argument("--write", default=None, help="Markdown file with the FINETUNE markers")
    parser.add_argument("--reuse", action="store_true", help="score the run already in the work folder (same "
                        "--tag, trained by an earlier call: e.g. chosen on val, now scored on test)")
    parser.add_argument("--int8", action="store_true", help="also export the run as int8 (`irodori export --int8`, "
                        "calibrated on the training folder) and score it")
    parser.add_argument("--block", default="", help="write between FINETUNE-BLOCK markers, into "
                        "docs/finetune-eval-BLOCK.json and docs/images/finetune-sheet-BLOCK.jpg")
    args = parser.parse_args(argv)

    corpus, work = Path(args.corpus), Path(args.work)
    split_dir = corpus / args.train_split / args.source
    if not split_dir.is_dir() or not (corpus / "manifest.jsonl").is_file():
        print(f"{split_dir} missing: run `make corpus-full` (or `make corpus-art`) first", file=sys.stderr)
        return 1
    name = f"{args.source}{args.tag}"
    train_dir = training_folder(split_dir, work / f"{name}-train", args.n_train)
    eval_dir = work / f"{args.source}-{args.score_split}-{args.look}-eval"
    n_eval = eval_subset(Path(args.eval_set), corpus, args.source, eval_dir, split=args.score_split, look=args.look)
    n_train = sum(1 for p in train_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if n_eval < 2 or n_train < 2:
        print(f"{args.source}: {n_train} training and {n_eval} evaluation images; too few", file=sys.stderr)
        return 1
    run_dir, onnx = work / f"{name}-run", work / f"{args.model}-{name}.onnx"
    reuse = args.reuse and (run_dir / "latest").is_file()
    if not reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
    irodori = [sys.executable, "-m", "irodori"]
    rel = lambda p: str(Path(p).resolve().relative_to(REPO))  # commands as a user types them

    before_json, after_json = work / f"{eval_dir.name}-{args.model}.json", work / f"{name}-after.json"
    if not before_json.is_file():  # the shipped model's score of a set does not change
        run(irodori + ["evaluate", args.model, rel(eval_dir), "--json", rel(before_json), "-q"])
    overrides = [f"--data.manga_prob={1 if args.look == 'manga' else 0}"] * (args.preset == "finetune")
    overrides += [f"--{kv}" for kv in args.set]
    train_args = ["train", rel(train_dir), "--init", args.model, "--preset", args.preset, f"--steps={args.steps}",
                  *overrides, "--out", rel(run_dir)]
    if reuse:  # the training time its own log recorded
        wall = float((run_dir / "log.csv").read_text().strip().splitlines()[-1].split(",")[-1])
    else:
        wall = run(irodori + train_args + ["-q"])
        run(irodori + ["export", rel(run_dir), "-o", rel(onnx), "--name", f"{args.model}-{name}", "--overwrite"])
    run(irodori + ["evaluate", rel(onnx), rel(eval_dir), "--json", rel(after_json), "-q"])
    before, after = json.loads(before_json.read_text()), json.loads(after_json.read_text())
    int8 = None
    if args.int8:
        onnx8, int8_json = onnx.with_name(f"{onnx.stem}-int8.onnx"), work / f"{name}-after-int8.json"
        export8 = ["export", rel(run_dir), "-o", rel(onnx8), "--int8", "--calibrate", rel(train_dir)]
        run(irodori + export8 + ["--overwrite"])
        run(irodori + ["evaluate", rel(onnx8), rel(eval_dir), "--json", rel(int8_json), "-q"])
        int8 = json.loads(int8_json.read_text())
    gains = [a["psnr"] - b["psnr"] for b, a in zip(before["per_image"], after["per_image"])]  # same sorted pairs

    def line(label: str, side: dict) -> str:
        return (f"| {label} | {side['psnr']:.2f} | {side['ssim']:.3f} | {side['colorfulness_ratio']:.0%} "
                f"| {side['delta_cf']:.1f} | {side['fd']:.2f} |")

    look = "rendered as manga" if args.look == "manga" else "as grey (their L)"
    table = "\n".join([
        (f"`{args.source}` images {look}: fine-tuned on {n_train} of its {args.train_split}-split images, "
         f"scored on its {n_eval} {args.score_split}-split images; preset `{args.preset}`, {args.steps} steps, "
         f"{wall / 60:.1f} min on this machine's CPU (`python scripts/finetune_demo.py`)."), "",
        "| | PSNR (dB) | SSIM | CF / truth | ΔCF | FD |", "|---|---:|---:|---:|---:|---:|",
        line(f"`{args.model}` as shipped", before["prediction"]),
        line(f"`{args.model}` fine-tuned", after["prediction"]),
        *([line(f"`{args.model}` fine-tuned, int8", int8["prediction"])] if int8 else []),
        line("grayscale baseline", before["grayscale"]), "",
        f"PSNR rose on {sum(g > 0 for g in gains)} of the {n_eval} images.", "",
        "The commands it ran, and how the result is then used:", "", "```",
        shlex.join(["irodori"] + train_args),
        shlex.join(["irodori", "export", rel(run_dir), "-o", rel(onnx)]),
        *([shlex.join(["irodori"] + export8)] if int8 else []),
        shlex.join(["irodori", "colorize", "my-pages/", "-o", "coloured/", "--model", rel(onnx)]),
        shlex.join(["irodori", "serve", "--model", rel(run_dir)]),
        "```"])
    print(table)
    if args.write:
        splice(Path(args.write), *markers(args.block), table)
        suffix = f"-{args.block}" if args.block else ""
        names = [b["image"] for b in before["per_image"]][:: max(1, n_eval // 4)][:4]  # spread, not picked by score
        record = {"source": args.source, "preset": args.preset, "look": args.look, "overrides": overrides,
                  "steps": args.steps, "train_split": args.train_split, "score_split": args.score_split,
                  "train_images": n_train, "eval_images": n_eval,
                  "train_wall_s": round(wall, 1), "images_improved": sum(g > 0 for g in gains),
                  "before": {k: v for k, v in before.items() if k != "per_image"},
                  "after": {k: v for k, v in after.items() if k != "per_image"}, "psnr_gain_per_image": gains,
                  **({"after_int8": {k: v for k, v in int8.items() if k != "per_image"}} if int8 else {})}
        (REPO / "docs" / f"finetune-eval{suffix}.json").write_text(json.dumps(record, indent=2) + "\n")
        pair_sheet([args.model, str(onnx)], eval_dir, names, REPO / "docs" / "images" / f"finetune-sheet{suffix}.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
