"""The chat page: static HTML, CSS and JS shipped inside the package (no CDN, no build step)."""
