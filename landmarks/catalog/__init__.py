"""The catalog: one YAML file per landmark in benchmarks/ (data, not code).

`schema` says what a file may hold, `load` reads and cross-checks the files, and
`landmarks.catalog_check` binds them to the registries of code (models, datasets, tasks,
estimators, metrics). Loading imports no registry, so `landmarks list` runs without torch.
"""

from landmarks.catalog.load import (check_profile, deep_merge, get_landmark, load_catalog, load_landmark,
                                    profile_names, resolve_recipe)
from landmarks.catalog.schema import (MINOR, MODIFIED, PAPER, PROFILE_NAME, PROFILES, REDUCED, Claim, Departure,
                                      Landmark, Ordering, Profile, Reference)

__all__ = ["MINOR", "MODIFIED", "PAPER", "PROFILES", "PROFILE_NAME", "REDUCED", "Claim", "Departure", "Landmark",
           "Ordering", "Profile", "Reference", "check_profile", "deep_merge", "get_landmark", "load_catalog",
           "load_landmark", "profile_names", "resolve_recipe"]
