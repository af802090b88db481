"""Reading tweets in every supported format, label mapping and the prepare step."""
