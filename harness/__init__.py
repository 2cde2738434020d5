"""connlab: reproduce connection exhaustion on real stacks and check the arithmetic against it."""
