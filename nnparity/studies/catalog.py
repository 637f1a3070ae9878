"""The studies ``nnparity reproduce`` knows, by name."""
from nnparity.studies import breast_cancer, breast_cancer_replicas, digits, even_odd, fashion, gates

STUDIES = {m.NAME: m for m in (fashion, breast_cancer, digits, gates, even_odd, breast_cancer_replicas)}
