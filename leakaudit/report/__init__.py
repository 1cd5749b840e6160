"""PDF audit reports: ``build_report(report_dir, out_pdf)`` renders an audit output folder.

``leakaudit.report.figures`` has the charts on their own (for notebooks), ``inputs`` reads
the folder and recomputes provenance hashes, ``fonts`` embeds Latin and CJK TrueType fonts.
"""
from __future__ import annotations

from leakaudit.report.inputs import ReportInputs, data_hash, load_report_inputs, store_hash
from leakaudit.report.pdf import DEFAULT_MAX_SAMPLES, build_report, leakiest, report

__all__ = ["DEFAULT_MAX_SAMPLES", "ReportInputs", "build_report", "data_hash", "leakiest", "load_report_inputs", "report", "store_hash"]
