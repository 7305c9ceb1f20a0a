"""The bias-origin lab: train small CLIPs under controlled caption order, watch the biases."""
