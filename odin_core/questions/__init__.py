"""What the benchmark's questions rest on: hypergraphs, canonical answers and their parsing, the shallow rules and the learned shortcut baseline."""
