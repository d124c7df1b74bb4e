import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns.imports import MetricsFileError, daily_metrics_import
from campaigns.models import METRIC_FIELDS
from leads.actors import SystemActor


class Command(BaseCommand):
    help = (
        "Load daily marketing metrics from a CSV file: date (YYYY-MM-DD), channel, optional "
        "campaign (its utm_campaign) and any of: "
        + ", ".join(METRIC_FIELDS)
        + ". Each row replaces its day's figures; an empty cell is unknown, not zero. Exits 1 "
        "when a row was rejected (the other rows are imported)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file (UTF-8, with or without a BOM)")

    def handle(self, *args, path, **options):
        bars = []  # made at the first row, once the total is known and the header has passed

        def progress(done, total):
            if not bars:
                bars.append(tqdm(desc="Importing metrics", unit="row", total=total,
                                 file=sys.stderr))
            bars[0].update(done - bars[0].n)

        try:
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
            with open(path, encoding="utf-8-sig", newline="") as file:
                report = daily_metrics_import(file=file, actor=SystemActor.IMPORT,
                                              progress=progress)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}")
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path} is not UTF-8 text (byte {exc.start}): save it as \"CSV UTF-8\"; "
                "nothing was imported."
            )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}")
        except MetricsFileError as exc:
            raise CommandError(f"{' '.join(exc.messages)} Nothing was imported.")
        finally:
            for bar in bars:
                bar.close()

        self.stdout.write(
            f"created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, rejected {len(report.rejected)}"
        )
        for line, reason in report.rejected:
            self.stdout.write(f"line {line}: {reason}")
        for line, earlier in report.repeated:
            self.stdout.write(
                f"note: line {line} repeats line {earlier}'s date, channel and campaign; "
                "the later row's figures are the ones kept"
            )
        if report.rejected:
            # After the report, so that a script sees both the rejects and the failure.
            raise CommandError(
                f"{len(report.rejected)} of {report.rows} rows rejected; the others were imported.",
                returncode=1,
            )
