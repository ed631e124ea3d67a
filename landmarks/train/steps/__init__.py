"""Training steps, each `step(batch, lr_step, losses, wrong)`: `sgd.SGDStep` (the reference, eager),
`fast.FastStep` (the same step as one CUDA graph), `perceptron.PerceptronStep` (Rosenblatt's rule,
example by example). The trainer picks one; the loop calls it."""
