"""Genesis files: the JSON that starts a chain, validated with marshmallow."""
