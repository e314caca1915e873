"""Running ocr_ray's Ray cluster on Docker Swarm: stack, CLI, scaling, autoscaler provider."""
