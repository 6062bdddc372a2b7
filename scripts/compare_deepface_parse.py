#!/usr/bin/env python3
"""Compare FaceKit's and deepface's per-pair verification results (plain python3, stdlib only).

Inputs per model x detector ("row"):
  - FaceKit:  JSON from `facekit evaluate ... --json --per-pair`; only its per-pair array is read
              (`pairs`, or `pairs_detail` of the report for that model/detector), each item
              with file_x, file_y, distance, verified (a null distance/verified or a non-null
              `error` marks a pair FaceKit could not process).
  - deepface: CSV from scripts/deepface_eval.py (file_x,file_y,label,distance,verified,threshold,error).
Labels come from the pairs CSV (file_x,file_y,Decision Yes/No), so both accuracies are computed
the same way here rather than trusting each tool's own arithmetic: accuracy = correct decisions
over ALL pairs, an error counting as wrong.

Printed per row: both accuracies, decision agreement % (same verified value on a pair; a pair
where both sides error also agrees, one-sided errors disagree), max |distance diff| over pairs
where both have a distance, and which pair that was.

Usage:
  compare_deepface_parse.py --pairs master.csv --row SFace yunet fk.json df.csv [--row ...] [--csv out.csv]
"""
import argparse
import csv
import json
import math
import os
import sys


def load_labels(path):
    labels = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            labels[(r["file_x"].strip(), r["file_y"].strip())] = (
                1 if r["Decision"].strip().lower() == "yes" else 0)
    return labels


def _num(v):
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _bool(v):
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    s = str(v).strip().lower()
    if s in ("1", "true", "yes"):
        return 1
    if s in ("0", "false", "no"):
        return 0
    return None


def _pick_report(doc, model, detector, path):
    """The per-pair list inside facekit's JSON. Accepted shapes (the CLI's output has moved):
      {"pairs": [ {file_x, file_y, distance, verified}, ... ]}
      a report object {"model", "detector", ..., "pairs_detail": [...]}
      a list of such reports (one per model x detector x alignment): the one matching
      model/detector is used, preferring alignment "deepface" (deepface's own crop)."""
    if isinstance(doc, dict):
        for key in ("pairs", "pairs_detail", "results"):
            if isinstance(doc.get(key), list):
                return doc[key]
        doc = [doc]
    if isinstance(doc, list):
        reports = [r for r in doc if isinstance(r, dict)
                   and str(r.get("model", model)).lower() == model.lower()
                   and str(r.get("detector", detector)).lower() == detector.lower()]
        reports.sort(key=lambda r: r.get("alignment", "deepface") != "deepface")
        for r in reports:
            for key in ("pairs", "pairs_detail", "results"):
                if isinstance(r.get(key), list):
                    return r[key]
    raise ValueError(f"{path}: no per-pair results for {model}/{detector} "
                     "(was --per-pair passed to facekit evaluate?)")


def load_facekit(path, model, detector):
    """{(file_x, file_y): (distance|None, verified|None)} from facekit's JSON."""
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for p in _pick_report(doc, model, detector, path):
        key = (str(p.get("file_x", "")).strip(), str(p.get("file_y", "")).strip())
        if p.get("error"):
            out[key] = (None, None)
        else:
            out[key] = (_num(p.get("distance")), _bool(p.get("verified")))
    return out


def load_deepface(path):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["file_x"].strip(), r["file_y"].strip())
            if r.get("error"):
                out[key] = (None, None)
            else:
                out[key] = (_num(r.get("distance")), _bool(r.get("verified")))
    return out


def align_keys(results, labels, path):
    """Re-key results to the pairs CSV's names. A tool may echo the paths it was given
    (e.g. DIR/img1.jpg) rather than the CSV's names; fall back to base names then."""
    if any(k in results for k in labels):
        return results
    by_base = {(os.path.basename(x), os.path.basename(y)): v for (x, y), v in results.items()}
    out = {k: by_base[(os.path.basename(k[0]), os.path.basename(k[1]))]
           for k in labels if (os.path.basename(k[0]), os.path.basename(k[1])) in by_base}
    if not out:
        raise ValueError(f"{path}: none of its pairs match the pairs CSV")
    return out


def accuracy(results, labels):
    correct = sum(1 for k, lab in labels.items()
                  if k in results and results[k][1] is not None and results[k][1] == lab)
    errors = sum(1 for k in labels if k not in results or results[k][1] is None)
    return 100.0 * correct / len(labels), errors


def compare(labels, fk, df):
    fk_acc, fk_err = accuracy(fk, labels)
    df_acc, df_err = accuracy(df, labels)
    agree = 0
    max_diff, max_pair = None, None
    for k in labels:
        a = fk.get(k, (None, None))
        b = df.get(k, (None, None))
        if a[1] == b[1]:  # includes both None (both failed on this pair)
            agree += 1
        if a[0] is not None and b[0] is not None:
            d = abs(a[0] - b[0])
            if max_diff is None or d > max_diff:
                max_diff, max_pair = d, k
    return {
        "facekit_acc": fk_acc, "deepface_acc": df_acc,
        "agreement": 100.0 * agree / len(labels),
        "max_dist_diff": max_diff, "max_diff_pair": max_pair,
        "facekit_errors": fk_err, "deepface_errors": df_err, "pairs": len(labels),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", required=True, help="pairs CSV with the labels")
    ap.add_argument("--row", nargs=4, action="append", required=True,
                    metavar=("MODEL", "DETECTOR", "FACEKIT_JSON", "DEEPFACE_CSV"))
    ap.add_argument("--csv", help="also write the summary table as CSV")
    args = ap.parse_args()

    labels = load_labels(args.pairs)
    if not labels:
        sys.exit(f"{args.pairs}: no pairs")
    rows = []
    for model, det, fk_path, df_path in args.row:
        # a side that did not run (missing/corrupt file) still gets a row, marked as such,
        # so one broken combination does not hide the others
        r = {"model": model, "detector": det}
        try:
            fk = align_keys(load_facekit(fk_path, model, det), labels, fk_path)
            df = align_keys(load_deepface(df_path), labels, df_path)
            r.update(compare(labels, fk, df))
        except (OSError, ValueError, KeyError, SystemExit) as e:
            r["problem"] = str(e).replace("\n", " ")[:120]
        rows.append(r)

    print(f"{len(labels)} pairs; accuracy = correct / all pairs (an error counts as wrong)")
    hdr = (f"{'model':<6} {'detector':<8} {'facekit%':>8} {'deepface%':>9} {'agree%':>7} "
           f"{'max|dd|':>9} {'fk err':>6} {'df err':>6}  pair with max |dd|")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if "problem" in r:
            print(f"{r['model']:<6} {r['detector']:<8} n/a: {r['problem']}")
            continue
        md = "n/a" if r["max_dist_diff"] is None else f"{r['max_dist_diff']:.6f}"
        mp = "" if r["max_diff_pair"] is None else " vs ".join(r["max_diff_pair"])
        print(f"{r['model']:<6} {r['detector']:<8} {r['facekit_acc']:8.2f} {r['deepface_acc']:9.2f} "
              f"{r['agreement']:7.2f} {md:>9} {r['facekit_errors']:6d} {r['deepface_errors']:6d}  {mp}")

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model", "detector", "facekit_acc", "deepface_acc", "agreement",
                        "max_dist_diff", "facekit_errors", "deepface_errors", "problem"])
            for r in rows:
                w.writerow([r["model"], r["detector"], r.get("facekit_acc", ""),
                            r.get("deepface_acc", ""), r.get("agreement", ""),
                            "" if r.get("max_dist_diff") is None else r["max_dist_diff"],
                            r.get("facekit_errors", ""), r.get("deepface_errors", ""),
                            r.get("problem", "")])


if __name__ == "__main__":
    main()
