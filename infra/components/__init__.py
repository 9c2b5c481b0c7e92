"""One construct per concept; stacks assemble them from typed environment props."""
