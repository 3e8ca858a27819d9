"""Built-in example jobs (word count, grep), the demo, and data generators."""
