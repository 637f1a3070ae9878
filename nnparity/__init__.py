"""The nnparity tool: CLI, parity runner, plugin registry, golden files, reproductions, benchmarks."""
