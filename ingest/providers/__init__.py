"""What each platform's records mean, beyond their shape: who an AWS caller is, what a Kubernetes
request did to identities, what a GCP IAM call issued. Shared by the parsers of one or more formats
(Kubernetes rules serve both ``k8s-audit`` and GKE entries of ``gcp-audit``)."""
