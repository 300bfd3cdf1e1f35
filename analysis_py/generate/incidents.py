"""platform.incidents, and the SEV1/SEV2 impact windows other tables react to.

An incident's impact window is ``[started_at, mitigated_at)`` (or until the data end when
it is not mitigated): during it the affected product's case volume is multiplied by
``incidents.case_volume_multiplier`` and the STP rate on the affected rails drops by
``incidents.stp_drop``; platform services also raise error rates and latency on their
surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analysis_py.generate.calendar import DATA_END_S, DATA_START_S, DAY
from analysis_py.generate.common import (
    add_load_columns,
    choose,
    format_ids,
    load_for_time,
    relanded_load,
    table_rng,
    ts,
)
from analysis_py.generate.labels import (
    RAILS,
    SEVERITIES,
    SEVERITY_VARIANTS,
    messy_labels,
)

#: service -> (affected product, candidate rails or None, platform surface or None)
SERVICES: dict[str, tuple[str, tuple[str, ...] | None, str | None]] = {
    "payment-engine": ("Payments", RAILS, None),
    "swift-connector": ("Payments", ("SWIFT",), None),
    "clearing-gateway-us": ("Payments", ("ACH", "FEDWIRE", "RTP"), None),
    "clearing-gateway-eu": ("Payments", ("SEPA", "CHAPS"), None),
    "client-portal": ("Digital Channels", None, "portal"),
    "mobile-app": ("Digital Channels", None, "mobile"),
    "api-gateway": ("Digital Channels", None, "api"),
    "liquidity-service": ("Cash Management", None, None),
    "trade-platform": ("Trade Finance", None, None),
    "fx-pricing": ("FX", None, None),
}
SERVICE_SHARE = np.array([0.14, 0.1, 0.1, 0.1, 0.12, 0.08, 0.1, 0.1, 0.08, 0.08])
SEVERITY_SHARE = np.array([0.05, 0.15, 0.35, 0.45])
ROOT_CAUSES = np.array(
    ["change", "capacity", "third-party", "network", "software defect", "data", "hardware"]
)


@dataclass(frozen=True)
class ImpactWindows:
    """SEV1/SEV2 windows: start/end (UTC s), product, rails (tuple), surface."""

    start: np.ndarray
    end: np.ndarray
    product: list[str]
    rails: list[tuple[str, ...]]
    surface: list[str | None]

    def mask(self, t: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """True where ``t`` falls in any window (optionally only windows where ``keep``)."""
        return self._mark(t, lambda i, rows: keep is None or bool(keep[i]))

    def rail_mask(self, t: np.ndarray, rail_codes: np.ndarray) -> np.ndarray:
        """True where ``t`` falls in a window that names the row's rail."""

        def hit(i, rows):
            if not self.rails[i]:
                return False
            return np.isin(rail_codes[rows], [RAILS.index(r) for r in self.rails[i]])

        return self._mark(t, hit)

    def _mark(self, t: np.ndarray, test) -> np.ndarray:
        # Windows are short: binary-search each one in the sorted times instead of
        # scanning every row once per window.
        if len(t) < 2 or bool((t[1:] >= t[:-1]).all()):
            order = np.arange(len(t))
            st = t
        else:
            order = np.argsort(t, kind="stable")
            st = t[order]
        out = np.zeros(len(t), dtype=bool)
        for i in range(len(self.start)):  # loop over SEV1/SEV2 windows
            a, b = np.searchsorted(st, [self.start[i], self.end[i]], side="left")
            if b <= a:
                continue
            rows = order[a:b]
            res = test(i, rows)
            if res is True:
                out[rows] = True
            elif res is not False:
                out[rows[res]] = True
        return out


def make_incidents(seed: int, scale: float) -> tuple[ImpactWindows, pa.Table, dict]:
    rng = table_rng(seed, "incidents")
    n = max(8, round(600 * scale**0.5))
    names = list(SERVICES)
    service = choose(rng, SERVICE_SHARE, n)
    sev = choose(rng, SEVERITY_SHARE, n)
    # Two SEV1/SEV2 incidents at least, so the effects exist at every scale.
    sev[:2] = [0, 1]
    service[:2] = [0, 4]
    day = rng.integers(0, (DATA_END_S - DATA_START_S) // DAY, n)
    tod = np.clip(rng.normal(13 * 3600, 4 * 3600, n), 0, DAY - 1).astype(np.int64)
    started = np.sort(DATA_START_S + day * DAY + tod)
    major = sev <= 1
    detected = started + (rng.lognormal(np.log(12 * 60), 0.7, n)).astype(np.int64)
    mitig_med = np.where(major, 1.5 * 3600, 4 * 3600)
    mitigated = detected + rng.lognormal(np.log(mitig_med), 0.6).astype(np.int64)
    resolved = mitigated + rng.lognormal(np.log(3 * 3600), 0.9, n).astype(np.int64)
    mitigated_null = mitigated >= DATA_END_S
    resolved_null = resolved >= DATA_END_S
    root = ROOT_CAUSES[rng.integers(0, len(ROOT_CAUSES), n)].astype(object)
    root[(rng.random(n) < 0.12) | resolved_null] = None

    product = [SERVICES[names[s]][0] for s in service]
    rails: list[tuple[str, ...]] = []
    for s in service:  # one loop over incidents (hundreds), not rows
        cand = SERVICES[names[s]][1]
        if cand is None:
            rails.append(())
        elif len(cand) == 1:
            rails.append(cand)
        else:
            k = int(rng.integers(1, min(3, len(cand)) + 1))
            pick = sorted(rng.choice(len(cand), size=k, replace=False))
            rails.append(tuple(cand[j] for j in pick))
    rails_str = np.array([";".join(r) if r else None for r in rails], dtype=object)

    def build(idx: np.ndarray, final: bool) -> pa.Table:
        return pa.table(
            {
                "incident_id": format_ids("INC", idx + 1, 5),
                "service": pa.array([names[s] for s in service[idx]], type=pa.string()),
                "severity": messy_labels(rng, sev[idx], SEVERITIES, SEVERITY_VARIANTS, 0.5),
                "started_at": ts(started[idx]),
                "detected_at": ts(detected[idx], mask=detected[idx] >= DATA_END_S),
                "mitigated_at": ts(mitigated[idx], mask=mitigated_null[idx] | (not final)),
                "resolved_at": ts(resolved[idx], mask=resolved_null[idx] | (not final)),
                "root_cause": pa.array(np.where(final, root[idx], None).tolist(), type=pa.string()),
                "affected_product": pa.array([product[i] for i in idx], type=pa.string()),
                "affected_rails": pa.array(rails_str[idx].tolist(), type=pa.string()),
            }
        )

    idx = np.arange(n)
    end_t = np.where(resolved_null, started, resolved)
    final_load = np.maximum(load_for_time(end_t), load_for_time(started))
    # ~20% are first landed while still open, then re-landed resolved.
    early = np.flatnonzero((rng.random(n) < 0.2) & ~resolved_null)
    first_load = load_for_time(started[early])
    final_load[early] = np.maximum(final_load[early], relanded_load(rng, first_load))
    final = add_load_columns(build(idx, True), final_load)
    if len(early):
        open_rows = add_load_columns(build(early, False), first_load)
        table = pa.concat_tables([open_rows, final])
    else:
        table = final
    windows_end = np.where(mitigated_null, DATA_END_S, mitigated)
    sel = np.flatnonzero(major)
    windows = ImpactWindows(
        start=started[sel],
        end=windows_end[sel],
        product=[product[i] for i in sel],
        rails=[rails[i] for i in sel],
        surface=[SERVICES[names[service[i]]][2] for i in sel],
    )
    facts = {
        "incidents": int(n),
        "sev1_sev2_windows": len(sel),
        "open_incidents": int(resolved_null.sum()),
    }
    return windows, table, facts
