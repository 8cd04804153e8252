"""`import knobs` stays light: no torch, no SQLAlchemy, no scipy.stats until they are used.

Why it matters: every CLI command (`knobs --help`, `knobs studies list`) and every notebook pays
the import; scipy.stats and SQLAlchemy alone took 1.3 of 1.7 s before they were made lazy."""

import subprocess
import sys

HEAVY = ("torch", "sqlalchemy", "scipy.stats", "scipy.special")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_knobs_loads_none_of_the_heavy_modules():
    loaded = _modules_after("import knobs")
    assert not [m for m in HEAVY if m in loaded]


def test_a_study_in_memory_with_random_search_stays_light():
    code = ("import knobs; s = knobs.Study(knobs.Space({\"x\": knobs.Float(0, 1)}), sampler=knobs.search.Random(seed=0)); "
            "s.optimize(lambda t: t.config['x'], n_trials=3)")
    loaded = _modules_after(code)
    assert "sqlalchemy" not in loaded and "scipy.stats" not in loaded


def test_the_lazy_names_still_resolve():
    loaded = _modules_after("from knobs.search import Bayes; from knobs.storage import SQLStorage, mask_password; "
                            "assert mask_password('postgresql://a:b@h/d') == 'postgresql://a:***@h/d'")
    assert "sqlalchemy" in loaded and "scipy.stats" in loaded
