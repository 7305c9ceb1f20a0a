"""cliposcope: put CLIP-style vision-language encoders under the microscope."""

from cliposcope.encoders import Encoder, EncoderInfo, load_encoder
from cliposcope.errors import CliposcopeError

__version__ = "0.1.0"

__all__ = ["CliposcopeError", "Encoder", "EncoderInfo", "__version__", "load_encoder"]
