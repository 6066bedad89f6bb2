"""What a run needs around the model: its folder, event log, device, chat templates, machine facts and processes."""
