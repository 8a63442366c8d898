//! Integration tests against gitlab-sim.
