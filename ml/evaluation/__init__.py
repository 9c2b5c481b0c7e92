"""Model quality: metrics shared by training, validation, the profile and the benchmarks."""
