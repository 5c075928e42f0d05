"""The conformance kit: vectors, runner and onboarding report."""
