"""The BentoML valuation service (`bento.service`) and its parts. See bento/README.md."""
