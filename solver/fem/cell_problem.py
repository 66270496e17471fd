"""The coupled cell problem: Na diffusion in the particles, Nernst–Planck transport in the
electrolyte, Butler–Volmer kinetics at both electrodes and the cell voltage, in one Newton solve.

Unknowns (all nondimensional; the equations are in docs/model.md §3):
    θ = c_s/c_s,max   P1 on the particle submesh (all particles in one submesh)
    ĉ = c/c₀           P1 on the electrolyte submesh (c₀ the initial salt concentration)
    φ̂ = Fφ_e/RT        P1 on the electrolyte submesh; for ``sphere-1d`` (no electrolyte mesh, uniform
                       c = c₀) a single real unknown set by the Na-metal kinetics
    V̂ = FV/RT          the cell voltage, a real (one-dof) unknown on the parent mesh

Scales: lengths by the mean particle radius R, time by t₀ = R²/D_ref (D_ref = D_s(θ₀)), current
density by i* = F D_ref c_s,max/R. The electrolyte rows are divided by D̂_salt = D_salt/D_ref so
that all rows are O(1) whatever the diffusivity ratio.

The voltage row is m (∫_Γ î dÂ − Î_app) + (1 − m)(V̂ − V̂_set) written as one interface integral,
with m = 1 under current control and 0 under voltage control: switching control changes constants
only, never the forms.

Geometry enters only through the radial weight of the measures (1, 2πr or 4πr², so every integral is
a true 3D amount) and through whether Γ is an interior facet set (particle inside an electrolyte
mesh) or the boundary point of a radial interval (``sphere-1d``).

Two-way chemo-mechanics (``mechanics.coupling: two-way``) adds the stress-assisted flux to the
particle rows, with the harmonic part of σ_h (``harmonic_hydrostatic``) supplied by the mechanics
after each accepted step. ``Sources`` adds prescribed source terms (manufactured-solution tests).

The problem assembles sibling model objects behind two small interfaces
(:mod:`ecmx.solver.fem.models`): the particle model (:class:`~ecmx.solver.fem.particles.FickianParticle`,
or :class:`~ecmx.solver.fem.phase_field_particle.PhaseFieldParticle` for a material with ``phase_field``)
and the electrolyte model (:class:`~ecmx.solver.fem.electrolyte_resolved.ResolvedElectrolyte` on an
electrolyte submesh, :class:`~ecmx.solver.fem.electrolyte_uniform.UniformElectrolyte` for ``sphere-1d``),
coupled through the Butler–Volmer flux ĵ of :class:`~ecmx.solver.fem.reactions.InsertionReaction`;
it owns the cell voltage and its row. Domains and measures: :mod:`ecmx.solver.fem.domains`; scales:
:mod:`ecmx.solver.fem.scales`.

Linear solvers (``solver.linear_solver``, :mod:`ecmx.solver.fem.newton`): MUMPS, or GMRES/ILU and
FGMRES/fieldsplit, whose failed Krylov solves are retried once with MUMPS; ``auto`` takes fieldsplit
in 3D and MUMPS in 1D/2D.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
import ufl
from dolfinx import fem

from ecmx.solver.fem.domains import CellDomains
from ecmx.solver.fem.double_layer import DoubleLayer
from ecmx.solver.fem.electrolyte_resolved import ResolvedElectrolyte
from ecmx.solver.fem.electrolyte_uniform import UniformElectrolyte
from ecmx.solver.fem.initial_profile import profile_concentration
from ecmx.solver.fem.models import ElectrolyteModel, ParticleModel, PointFunction
from ecmx.solver.fem.newton import CoupledNewton, NewtonSettings, StepOutcome, resolve_linear_solver
from ecmx.solver.fem.particles import FickianParticle
from ecmx.solver.fem.phase_field_particle import PhaseFieldParticle
from ecmx.solver.fem.probes import PointEvaluator
from ecmx.solver.fem.reactions import CounterReaction, InsertionReaction, constant, equilibrium_voltage
from ecmx.solver.fem.scales import Scales, cell_scales
from ecmx.solver.fem.time_history import TimeHistory
from ecmx.solver.units import F

__all__ = ["CellProblem", "Scales", "Sources", "StepOutcome"]


def _owned(u: fem.Function) -> int:
    """The number of owned values of ``u`` on this rank."""
    return u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs


@dataclass(frozen=True)
class Sources:
    """Prescribed source terms added to the residual, for verification with manufactured solutions.

    Each entry is None or a callable returning a nondimensional UFL expression; ``x`` is the
    nondimensional position (mesh coordinate × length_unit/R) and ``n`` the outward unit normal of the
    domain the term belongs to:

    - ``particle(x)``: volumetric source of the θ rows (per t₀);
    - ``particle_flux(x, n)``: extra outward θ flux through Γ (added to ĵ);
    - ``salt(x)``, ``charge(x)``: volumetric sources of the anion and (cation − anion) rows (c₀ per t₀);
    - ``salt_flux(x, n, on_interface)``, ``charge_flux(x, n, on_interface)``: extra outward fluxes
      through the electrolyte boundary: Γ seen from the electrolyte (``on_interface`` True) and the
      outer faces, Na metal and walls (False);
    - ``chemical_potential(x)``: volumetric source of the μ̂ row of phase-field particles (μ/RT).
    """

    particle: Callable | None = None
    particle_flux: Callable | None = None
    salt: Callable | None = None
    salt_flux: Callable | None = None
    charge: Callable | None = None
    charge_flux: Callable | None = None
    chemical_potential: Callable | None = None


def _particle_model(domains: CellDomains, case: Any, scales: Scales, history: TimeHistory) -> ParticleModel:
    """The phase-field particle where the material has ``phase_field``, the Fickian one otherwise."""
    if case.material.phase_field is not None:
        return PhaseFieldParticle(domains, case, scales, history)
    return FickianParticle(domains, case, scales, history)


def _electrolyte_model(domains: CellDomains, pmesh: Any, case: Any, scales: Scales, counter: CounterReaction,
                       history: TimeHistory) -> ElectrolyteModel:
    """The resolved electrolyte where the mesh has one, the uniform one otherwise (``sphere-1d``)."""
    if domains.electrolyte is not None:
        return ResolvedElectrolyte(domains, case.electrolyte, scales, counter, history)
    return UniformElectrolyte(domains, pmesh.counter_electrode_area, scales, counter)


class CellProblem:
    """One coupled electrochemical cell: particles + electrolyte + Na metal + cell voltage.

    All methods are collective over the mesh communicator.

    Attributes:
        scales: the :class:`Scales` of the nondimensionalisation.
        capacity_C: the capacity of the stoichiometry window [C].
        particle_area_m2, particle_volume_m3: the area of Γ [m²] and the particle volume [m³].
        harmonic_hydrostatic: the harmonic part φ of σ_h [Pa] on the particle submesh (two-way
            coupling; the mechanics writes it after each accepted step), else None.
        interface_flux: ĵ(θ, ĉ, φ̂_e, V̂) of the particle surface (UFL; verification).
        counter_flux: î_a(ĉ, φ̂_e) of the Na metal (UFL; verification).
    """

    def __init__(self, pmesh: Any, case: Any, sources: Sources | None = None) -> None:
        """Build submeshes, models, forms and the SNES solver (collective).

        Args:
            pmesh: an ``ecmx.meshes.ParticleMesh`` (coordinates in mesh units, ``length_unit`` m each).
            case: an ``ecmx.solver.config.Case`` (SI values).
            sources: extra source terms (manufactured-solution tests only).
        """
        self.pmesh, self.case = pmesh, case
        self.comm = pmesh.mesh.comm
        self.scales = cell_scales(pmesh, case)
        self.domains = CellDomains(pmesh, self.scales.mesh_to_length)
        self._init_models()
        self._init_capacity()
        residuals, self._q_forms = self._init_forms(sources)
        newton = case.solver.newton_tolerances()
        settings = NewtonSettings(newton.rtol, newton.atol * self._one_c_current_hat, newton.max_iterations)
        self._newton = CoupledNewton(residuals, self._unknowns, self._split_names, self.domains.entity_maps, settings,
                                     resolve_linear_solver(case.solver.linear_solver, pmesh.mesh.topology.dim),
                                     before_assembly=self.particle.update_tabulated)
        self._evaluators: dict[int, PointEvaluator] = {}
        self.set_initial_state()

    def _init_models(self) -> None:
        """The particle and electrolyte models, the cell voltage, the time history and the control constants."""
        msh, sc = self.domains.mesh, self.scales
        self.history = TimeHistory(msh)
        self._current_mode = constant(msh, 1.0)  # 1: current control, 0: voltage control
        self._current_hat = constant(msh, 0.0)
        self._voltage_hat_set = constant(msh, 0.0)
        self._control: tuple[str, float] = ("current", 0.0)
        self._reaction = InsertionReaction.of_case(msh, self.case, sc)
        counter = CounterReaction.of_case(msh, self.case, sc)
        self.interface_flux = self._reaction.flux
        self.counter_flux = counter.flux
        self.particle: ParticleModel = _particle_model(self.domains, self.case, sc, self.history)
        self._reaction = self._reaction.with_open_circuit_voltage(self.particle.open_circuit_voltage)
        self.electrolyte = _electrolyte_model(self.domains, self.pmesh, self.case, sc, counter, self.history)
        self.harmonic_hydrostatic = self.particle.harmonic_hydrostatic
        self._voltage = fem.Function(self.domains.real_space, name="cell_voltage")
        self.double_layer = DoubleLayer.of_case(msh, self.case, sc, self.history, self._voltage, self.electrolyte.phi)
        self._unknowns = [*self.particle.unknowns, *self.electrolyte.unknowns, self._voltage]
        self._split_names = [*self.particle.split_names, *self.electrolyte.split_names, "voltage"]
        # with a double layer V̂ has a storage term (the capacitor): its RC transient enters the error norm
        self.differential = (*self.particle.differential, *self.electrolyte.differential, self.double_layer is not None)
        self._accepted = [u.x.array.copy() for u in self._unknowns]

    def _init_capacity(self) -> None:
        """Particle area, volume and capacity; the 1C current in units of the current scale.

        Every row of the residual scales with the current, so the absolute Newton tolerance is taken
        in units of the 1C current: the same relative accuracy of currents and of the Na balance for
        any D_s (with R²/D_ref as time scale, 1C is 1e-4 of the current scale at D_s = 1e-12 m²/s but
        100 times it at 1e-17).
        """
        sc, material = self.scales, self.case.material
        self.particle_area_m2 = self.domains.interface_area * sc.length**2
        self.particle_volume_m3 = self.domains.particle_volume * sc.length**3
        lo, hi = material.stoichiometry_window
        self.capacity_C = F * material.max_concentration * (hi - lo) * self.particle_volume_m3
        self._one_c_current_hat = self.capacity_C / 3600.0 / sc.current

    def _init_forms(self, sources: Sources | None) -> tuple[list[ufl.Form], dict[str, fem.Form]]:
        """The residual rows (particle, electrolyte, voltage) and the forms of the interface quantities."""
        d, gamma = self.domains, self.domains.interface
        tests = ufl.TestFunctions(ufl.MixedFunctionSpace(*(u.function_space for u in self._unknowns)))
        n_particle = len(self.particle.unknowns)
        c_surface, phi_surface = self.electrolyte.interface_state()
        theta_surface = self.particle.surface_stoichiometry()
        voltage = gamma.particle(self._voltage)
        flux = self._reaction.flux(theta_surface, c_surface, phi_surface, voltage)  # c_s,max R/t₀ per area
        capacitive = self.double_layer.flux(gamma) if self.double_layer is not None else None
        residuals = [
            *self.particle.residuals(tests[:n_particle], flux, sources),
            *self.electrolyte.residuals(tests[n_particle:-1], flux, sources, capacitive=capacitive),
            self._voltage_row(flux if capacitive is None else flux + capacitive, tests[-1]),
        ]
        eta = self._reaction.overpotential(theta_surface, c_surface, phi_surface, voltage)
        quantity_forms = {
            "interface_current": d.form(gamma.integral(flux)),
            "overpotential_integral": d.form(gamma.integral(eta)),
            "potential_surface_integral": d.form(gamma.integral(phi_surface)),
        }
        if capacitive is not None:
            quantity_forms["double_layer_current"] = d.form(gamma.integral(capacitive))
        return residuals, quantity_forms

    def _voltage_row(self, flux: ufl.core.expr.Expr, q: ufl.Argument) -> ufl.Form:
        """m (ĵ − Î_app/Â_Γ) + (1 − m)(V̂ − V̂_set)/Â_Γ on Γ; m = 1: current control, 0: voltage control
        (ĵ: the whole interface current density, faradaic + capacitive)."""
        gamma, mode = self.domains.interface, self._current_mode
        area = constant(self.domains.mesh, self.domains.interface_area)
        voltage = gamma.particle(self._voltage)
        row = mode * (flux - self._current_hat / area) + (1.0 - mode) * (voltage - self._voltage_hat_set) / area
        return gamma.integral(row * gamma.particle(q))

    # ------------------------------------------------------------------------------------------
    @property
    def particle_mesh(self) -> dolfinx.mesh.Mesh:
        """The submesh of all particle cells."""
        return self.domains.particle_mesh

    @property
    def particle_entity_map(self) -> Any:
        """The entity map of the particle submesh."""
        return self.domains.particle_entity_map

    @property
    def electrolyte_entity_map(self) -> Any:
        """The entity map of the electrolyte submesh (None for ``sphere-1d``)."""
        return self.domains.electrolyte.entity_map if self.domains.electrolyte is not None else None

    def set_initial_state(self) -> None:
        """Uniform θ₀ (or the case's radial profile θ(r)), c = c₀, rest potentials: φ_e from the Na metal at
        zero current, V with η = 0 at the mean surface θ."""
        theta0 = float(self.case.initial_stoichiometry())
        profile = self.case.initial.profile
        if profile is None:
            self.particle.set_initial_state(theta0)
        else:
            cmax = self.scales.particle_concentration
            self.particle.set_state(profile_concentration(profile, self.pmesh, self.domains.particle_mesh, cmax,
                                                          self.case.source_path))
            theta0 = self.particle.quantities()["c_surface_mean"] / cmax
        self.electrolyte.set_initial_state()
        ocv = equilibrium_voltage(self.case, theta0)
        rest = self.electrolyte.rest_potential + self._reaction.rest_nernst_potential
        self._voltage.x.array[:] = rest + ocv / self.scales.thermal_voltage
        self._store_accepted()
        self.history.reset()

    def set_state(
        self,
        particle_concentration: PointFunction | None = None,
        electrolyte_concentration: PointFunction | None = None,
        electrolyte_potential: PointFunction | None = None,
    ) -> None:
        """Interpolate fields into the state and accept it (restarts, verification).

        Each argument maps points x of shape (3, n) in mesh units to SI values (mol/m³, V); None
        keeps the present field (the electrolyte fields are ignored for ``sphere-1d``). Collective.
        """
        self.particle.set_state(particle_concentration)
        self.electrolyte.set_state(electrolyte_concentration, electrolyte_potential)
        self._store_accepted()
        self.history.reset()

    def _store_accepted(self) -> None:
        for store, u in zip(self._accepted, self._unknowns, strict=True):
            store[:] = u.x.array

    def set_control(self, mode: Literal["current", "voltage"], value: float) -> None:
        """Current control (I_app [A], > 0 charge) or voltage control (V [V]); no rebuild."""
        if mode == "current":
            self._current_mode.value = 1.0
            self._current_hat.value = value / self.scales.current
        elif mode == "voltage":
            self._current_mode.value = 0.0
            self._voltage_hat_set.value = value / self.scales.thermal_voltage
        else:
            raise ValueError(f"control mode must be 'current' or 'voltage', got {mode!r}")
        self._control = (mode, float(value))

    @property
    def control(self) -> tuple[str, float]:
        """The present control (mode, value in A or V)."""
        return self._control

    @property
    def num_dofs(self) -> int:
        """Global number of unknowns of the coupled system (every block, the cell voltage included)."""
        return sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                   for u in self._unknowns)

    # ------------------------------------------------------------------------------------------
    def try_step(self, dt: float, weights: tuple[float, ...] | None = None,
                 guess: Sequence[np.ndarray] | None = None, budget: int | None = None) -> StepOutcome:
        """One step of length dt [s] from the last accepted state (not committed).

        ``weights`` (a₀, a₁[, a₂[, a₃]]) [1/s] make ∂u/∂t ≈ a₀ u + a₁ uₙ + a₂ uₙ₋₁ + a₃ uₙ₋₂ (BDF of
        order 1-3, :meth:`ecmx.solver.timeloop.integrators.BdfIntegrator.weights`); None is backward Euler,
        (1, −1)/dt.
        ``guess``: Newton's first iterate (owned values per block, as :meth:`state`; the integrator's
        predictor), else the last accepted state; a solve from the guess that fails is repeated from
        the last accepted state. ``budget``: Newton iterations of the whole try (the solve from the
        guess and its continuation) before it is abandoned as ``capped`` (a step too large: the caller
        cuts it), without the repeat from the last accepted state; None: the user's maximum per solve.
        With an iterative linear solver, a step whose Krylov solve fails is retried once with MUMPS.
        """
        if weights is None:
            weights = (1.0 / dt, -1.0 / dt)
        self.history.set_weights([w * self.scales.time for w in weights])
        self._newton.expect_operator((weights[0], self._control[0]))  # a₀ and the mode scale the Jacobian
        if guess is None:
            return self._newton.solve(self.reject, self._bounds_violation, budget)
        outcome = self._newton.solve(lambda: self._start_from(guess), self._bounds_violation, budget)
        if outcome.converged and not self._converged_on_the_step_scale(outcome):
            left = None if budget is None else max(budget - outcome.newton_iterations, 1)
            outcome = self._continued(outcome, left)
        if outcome.converged or outcome.capped:
            return outcome
        retry = self._newton.solve(self.reject, self._bounds_violation)
        return replace(retry, newton_iterations=outcome.newton_iterations + retry.newton_iterations)

    def _continued(self, outcome: StepOutcome, budget: int | None = None) -> StepOutcome:
        """Newton continued from the iterate of a solve that converged only relative to a poor guess
        (:meth:`_converged_on_the_step_scale`), under the same test, instead of started again from the
        last accepted state: measured on cases/hev.yaml, 16 of 115 tries converged so, and their
        63 Newton iterations were thrown away. ``budget``: as :meth:`try_step`'s, what is left of it.
        Collective."""
        more = self._newton.solve(lambda: None, self._bounds_violation, budget)
        more = replace(more, newton_iterations=outcome.newton_iterations + more.newton_iterations)
        if more.converged and self._converged_on_the_step_scale(more):
            return more
        return replace(more, converged=False, reason=f"{outcome.reason} only relative to a poor guess")

    def _converged_on_the_step_scale(self, outcome: StepOutcome) -> bool:
        """Whether a solve from the guess is also converged relative to the last accepted state.

        Newton's relative test measures the residual against that of its first iterate; from a guess
        far worse than the last accepted state (a predictor extrapolated across a sharp change: its
        residual can be 1e10) a residual of order one passes it, and a wrong state (measured: a cell
        voltage 0.1 V off, which the error estimate does not see) would be accepted. A relative
        convergence with ‖F‖ above the absolute tolerance therefore also needs ‖F‖ ≤ rtol ‖F(uₙ)‖, the
        residual of the step's own scale; the solution is left in the unknowns. Collective.
        """
        newton = self._newton.settings
        if not outcome.relative or outcome.residual_norm <= newton.atol:
            return True
        solution = self.state()
        self.reject()
        reference = self._newton.residual_norm()
        self._start_from(solution)
        self.particle.update_tabulated()  # the coefficients computed outside UFL back at the solution
        return outcome.residual_norm <= newton.rtol * reference

    def coefficient_response(self, coefficient: fem.Function, values: np.ndarray) -> list[np.ndarray] | None:
        """The first-order change of the last solved step's solution when ``coefficient`` (a function
        only the particle rows of the residual depend on, e.g. ``harmonic_hydrostatic``) takes ``values`` (its whole local array)
        instead of its present values: −J⁻¹ (F(u; new) − F(u; present)) at the present unknowns u, with
        the Jacobian and linear solver of the step's last Newton iteration (no new factorisation). The
        owned values per unknown block (nondimensional, order of ``differential``); ``coefficient`` is
        left with ``values``. None when the last solve made no Newton iteration. Collective.
        """
        rows = range(len(self.particle.unknowns))
        before = self._newton.residual_rows(rows)
        coefficient.x.array[:] = values
        after = self._newton.residual_rows(rows)
        after.axpy(-1.0, before)
        before.destroy()
        try:
            return self._newton.linear_response(after)
        finally:
            after.destroy()

    def _start_from(self, guess: Sequence[np.ndarray]) -> None:
        """Put ``guess`` (owned values per block) into the unknowns, ghosts updated."""
        for u, values in zip(self._unknowns, guess, strict=True):
            u.x.array[:values.size] = values
            u.x.scatter_forward()

    @property
    def compiled_forms(self) -> tuple[Sequence[fem.Form], Sequence[Sequence[fem.Form]]]:
        """The compiled residual rows and their Jacobian blocks, in block order (the forms the time loop
        solves; :mod:`ecmx.solver.fem.impedance` linearises them)."""
        return self._newton.forms

    def state(self) -> list[np.ndarray]:
        """Copies of the owned values of each unknown block (nondimensional; order of ``differential``)."""
        return [u.x.array[:_owned(u)].copy() for u in self._unknowns]

    @property
    def error_magnitudes(self) -> tuple[float, ...]:
        """Per block (order of ``differential``): the floor of |u| in the error weight atol + rtol max(|u|, floor)
        (:class:`~ecmx.solver.timeloop.integrators.BdfIntegrator` ``magnitudes``): the particle model's, 0 for
        the electrolyte and the voltage."""
        return (*self.particle.error_magnitudes, *(0.0 for _ in self.differential[len(self.particle.differential):]))

    @property
    def jumping_blocks(self) -> tuple[bool, ...]:
        """Per block (order of ``differential``): True for the cell voltage V̂ when it is algebraic (no
        double layer), which enters the error norm away from restarts
        (:class:`~ecmx.solver.timeloop.integrators.BdfIntegrator` ``jumping``; docs/model.md §7)."""
        return (*(False for _ in self.differential[:-1]), not self.differential[-1])

    @property
    def kinks(self) -> tuple[tuple[np.ndarray, np.ndarray] | None, ...]:
        """Per block (order of ``differential``): for θ, the knots of the piecewise-linear U(θ) table
        and the mask of the owned θ nodes on the interface, where U acts; None for the other blocks
        (:class:`~ecmx.solver.timeloop.integrators.BdfIntegrator` ``kinks``). Collective."""
        theta = self.particle.unknowns[0]
        if self.case.material.open_circuit_voltage is None:  # phase field: a smooth equilibrium potential
            return tuple(None for _ in self.differential)
        gamma = self.domains.interface
        v = ufl.TestFunction(theta.function_space)
        weights = fem.assemble_vector(self.domains.form(gamma.integral(gamma.particle(v))))
        weights.scatter_reverse(dolfinx.la.InsertMode.add)
        on_surface = weights.array[:_owned(theta)] != 0.0
        knots = np.asarray(self.case.material.open_circuit_voltage.stoichiometry, dtype=float)
        return ((knots, on_surface), *(None for _ in self.differential[1:]))

    def _bounds_violation(self) -> str:
        return self.particle.bounds_violation() or self.electrolyte.bounds_violation()

    def accept(self) -> None:
        """The tried state becomes the last accepted state (and the newest level of the history)."""
        self._store_accepted()
        self.history.commit()

    def reject(self) -> None:
        """Restore the last accepted state into the unknowns."""
        for store, u in zip(self._accepted, self._unknowns, strict=True):
            u.x.array[:] = store

    def state_arrays(self) -> list[np.ndarray]:
        """This rank's arrays (ghosts included) of every unknown at the last accepted state, in block
        order: what a checkpoint stores (:mod:`ecmx.solver.studies.resume`)."""
        return [store.copy() for store in self._accepted]

    def restore_state(self, arrays: Sequence[np.ndarray]) -> None:
        """Make ``arrays`` (from :meth:`state_arrays`, same mesh and MPI ranks) the accepted state."""
        for u, array in zip(self._unknowns, arrays, strict=True):
            u.x.array[:] = array
        self._store_accepted()
        self.history.reset()  # restore_checkpoint_state puts the history back

    def checkpoint_state(self) -> list[np.ndarray]:
        """This rank's arrays of the time history (uₙ, uₙ₋₁, uₙ₋₂ of every unknown with a storage
        term): with :meth:`state_arrays`, what a resumed run needs to continue the BDF exactly."""
        return self.history.checkpoint_state()

    def restore_checkpoint_state(self, arrays: Sequence[np.ndarray]) -> None:
        """Put the time history back from :meth:`checkpoint_state` (after :meth:`restore_state`)."""
        self.history.restore_checkpoint_state(arrays)

    # ------------------------------------------------------------------------------------------
    def quantities(self) -> dict[str, float]:
        """Global quantities of the current (tried) state, SI; collective, identical on all ranks.

        Besides the keys of the interface contract it returns ``counter_electrode_current_A`` (the
        Na-metal current, anodic positive: −I at convergence), ``electrolyte_potential_V`` (mean φ_e
        on Γ), ``overpotential_V`` (mean η = V − φ_e − U(θ) − (RT/F) ln(c/c_ref) on Γ), ``time_scale_s`` (R²/D_ref) and
        ``na_rate_mol_per_s`` (the scheme's rate of the Na content over the tried step, for the balance);
        with a double layer also ``double_layer_current_A`` (I_dl, anodic positive; ``interface_current_A``
        is the faradaic part).
        """
        sc, area = self.scales, self.domains.interface_area
        integral = {name: self.domains.integrate(form) for name, form in self._q_forms.items()}
        interface_current = integral["interface_current"] * sc.current
        particle = self.particle.quantities()
        electrolyte = self.electrolyte.quantities()
        q = {"voltage_V": float(self._voltage.x.array[0]) * sc.thermal_voltage} | particle | {
            "interface_current_A": interface_current,
            "electrolyte_potential_V": integral["potential_surface_integral"] / area * sc.thermal_voltage,
            "overpotential_V": integral["overpotential_integral"] / area * sc.thermal_voltage,
            "electrolyte_c_min": electrolyte.c_min,
            "electrolyte_c_max": electrolyte.c_max,
            "na_total_mol": particle["c_mean"] * self.particle_volume_m3 + electrolyte.salt_mol,
            "na_rate_mol_per_s": particle["na_rate_mol_per_s"] + electrolyte.salt_rate_mol_per_s,
            "counter_electrode_current_A": electrolyte.counter_current_A,
        }
        # the set current under current control (exactly 0 at rest), the resulting one under voltage
        # control; the Na that entered the cell is counter_electrode_current_A dt/F
        mode, value = self._control
        if "double_layer_current" in integral:  # the capacitive current I_dl [A], anodic positive
            q["double_layer_current_A"] = integral["double_layer_current"] * sc.current
        q["current_A"] = value if mode == "current" else interface_current + q.get("double_layer_current_A", 0.0)
        q["time_scale_s"] = sc.time
        return q

    @property
    def fields(self) -> dict[str, fem.Function]:
        """SI fields of the current state: particle_concentration [mol/m³] (particle submesh);
        electrolyte_concentration [mol/m³] and electrolyte_potential [V] (electrolyte submesh,
        absent for sphere-1d). Refreshed on every access."""
        return self.particle.fields() | self.electrolyte.fields()

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate the SI fields at points (n, gdim) or (n, 3) in mesh units; NaN outside a field's
        domain, except that a point within a quarter cell of the particle mesh (e.g. exactly on the curved
        surface, outside its facets) takes the particle fields at the nearest particle point.
        Collective; every rank gets the same arrays.

        For ``sphere-1d`` a 3D point is evaluated at its distance from the centre; for
        ``axisymmetric-2d`` at (√(x²+y²), z).
        """
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        pts = self.pmesh.coordinates.to_mesh_coordinates(pts, self.pmesh.particle_centres[0])
        fields = self.fields
        by_mesh: dict[int, dict[str, fem.Function]] = {}
        for name, f in fields.items():
            by_mesh.setdefault(id(f.function_space.mesh), {})[name] = f
        out: dict[str, np.ndarray] = {}
        for group in by_mesh.values():
            out |= self._evaluator(next(iter(group.values())).function_space.mesh).evaluate(group, pts)
        return {name: out[name] for name in fields}

    def _evaluator(self, mesh: dolfinx.mesh.Mesh) -> PointEvaluator:
        """The point evaluator of a (sub)mesh, built once (probes are evaluated every step)."""
        if id(mesh) not in self._evaluators:
            # a probe on the particle surface may fall just outside its facets: nearest particle point
            self._evaluators[id(mesh)] = PointEvaluator(mesh, snap=mesh is self.domains.particle_mesh)
        return self._evaluators[id(mesh)]
