"""GITT analysis (``ecmx gitt``): D(θ) per pulse by Weppner–Huggins and by fitting the sphere-1d model.

Modules: :mod:`~ecmx.solver.studies.gitt.pulses` (record and segmentation),
:mod:`~ecmx.solver.studies.gitt.weppner` (Weppner–Huggins and the sphere's analytic bias),
:mod:`~ecmx.solver.studies.gitt.model` (the compiled sphere-1d pulse model),
:mod:`~ecmx.solver.studies.gitt.fit` (least squares per pulse, confidence intervals),
:mod:`~ecmx.solver.studies.gitt.analysis` (the passes, stoichiometry, output files) and
:mod:`~ecmx.solver.studies.gitt.verb` (the command).
"""
