"""Time loop: step-size control, protocols (steps, segments, events) and the runner that lands on events."""
