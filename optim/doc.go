// Package optim provides Runge-Kutta optimizers: explicit Runge-Kutta
// steps on the gradient flow
//
//	θ' = -P ∇L(θ),
//
// of which gradient descent θ ← θ - h ∇L(θ) is the Euler step (P = I).
// A method is a Butcher tableau (Euler, Heun, RK3, RK4 and the embedded
// Bogacki-Shampine 3(2) pair are built in, any explicit Tableau can be
// given); every stage re-evaluates the gradient at the stage's parameters:
//
//	k_i = P ∇L(θ - h Σ_{j<i} a_ij k_j),   d = Σ_i b_i k_i,   θ ← θ - h d.
//
// Following Dherin et al. (2025), "Learning by solving differential
// equations", the optimizers add what makes optimizers competitive in deep
// learning, each an option:
//
//   - a diagonal preconditioner P inside the stages (WithRMSprop,
//     WithAdaGrad), computed from the first stage's gradient once per step;
//   - momentum on the Runge-Kutta direction, m ← β m + d, θ ← θ - h m
//     (WithMomentum);
//   - an adaptive step size (WithAdaptive) within bounds [HMin, HMax],
//     from the local error estimate of an embedded pair (Embedded) or
//     from the ratio of the norms of successive changes of the gradient
//     and of the parameters, a local Lipschitz estimate (Lipschitz);
//   - gradient clipping by global norm at every stage (WithClip).
//
// With none of them, a method of order p follows the flow with global
// error O(h^p) (TestFlowOrders measures it on a quadratic against
// exp(-At)θ0, TestFlowOrdersNonlinear on a quartic).
//
// # Stage callback
//
// Gorgonia's Solver interface sees one gradient, which is all Euler needs;
// the other stages need the gradient at other parameters. The core,
// Optimizer, is independent of Gorgonia: it steps a []float64 with a Func
// that writes ∇L(params) into grad, called once per stage. Solver adapts it
// to Gorgonia and implements G.Solver: the gradient already in the nodes
// (the caller's run before Step) is the first stage, and for every further
// stage the Solver writes the stage's parameters into the learnable nodes'
// values, calls a GradFunc that re-runs the graph (RunVM(vm): Reset and
// RunAll) and reads the nodes' gradients back. At the end it writes the
// new parameters; on error it writes the old ones back. A training loop
// changes only the solver's constructor:
//
//	solver, _ := optim.NewSolver(optim.RK4(), optim.RunVM(vm),
//		optim.WithLearnRate(0.05), optim.WithRMSprop(0.99, 1e-8))
//	for … {
//		vm.RunAll()
//		solver.Step(G.NodesToValueGrads(learnables))
//		vm.Reset()
//	}
//
// Stats.Evals counts the gradient evaluations (s per step for an s-stage
// method, the caller's run included).
//
// A NaN or Inf gradient stops the step with a *StageError that names the
// stage and wraps ErrNotFinite; the parameters and the optimizer's state
// stay as before the step.
package optim
