"""The XML namespaces, file types and annotation types of SSP that the reader and writer share."""

from __future__ import annotations

# SSP 1.0 and 2.0 use the same namespace URIs (the 2.0 XSDs keep ".../SSP1/..."; the version is
# the root's `version` attribute). Some pre-release 2.0 tools wrote ".../SSP2/..."; the reader
# accepts those too (SSP2_* below), the writer never writes them.
SSD = "http://ssp-standard.org/SSP1/SystemStructureDescription"
SSC = "http://ssp-standard.org/SSP1/SystemStructureCommon"
SSV = "http://ssp-standard.org/SSP1/SystemStructureParameterValues"
SSM = "http://ssp-standard.org/SSP1/SystemStructureParameterMapping"
SSB = "http://ssp-standard.org/SSP1/SystemStructureSignalDictionary"

SSP2_SSD = "http://ssp-standard.org/SSP2/SystemStructureDescription"
SSP2_SSC = "http://ssp-standard.org/SSP2/SystemStructureCommon"
SSP2_SSV = "http://ssp-standard.org/SSP2/SystemStructureParameterValues"
SSP2_SSM = "http://ssp-standard.org/SSP2/SystemStructureParameterMapping"
SSP2_SSB = "http://ssp-standard.org/SSP2/SystemStructureSignalDictionary"

# the prefixes the standard's examples use, for writing
NSMAP = {"ssd": SSD, "ssc": SSC, "ssv": SSV, "ssm": SSM, "ssb": SSB}

# which file kind each namespace belongs to (both spellings)
KIND_OF_NAMESPACE = {
    SSD: "ssd",
    SSC: "ssc",
    SSV: "ssv",
    SSM: "ssm",
    SSB: "ssb",
    SSP2_SSD: "ssd",
    SSP2_SSC: "ssc",
    SSP2_SSV: "ssv",
    SSP2_SSM: "ssm",
    SSP2_SSB: "ssb",
}

# SSP versions the reader accepts on the root's `version` attribute
VERSIONS = ("1.0", "2.0")

# MIME types (ssd:Component/@type, ssd:ParameterBinding/@type, ...)
FMU_TYPE = "application/x-fmu-sharedlibrary"
SSD_TYPE = "application/x-ssp-definition"
SSP_TYPE = "application/x-ssp-package"
SSV_TYPE = "application/x-ssp-parameter-set"
SSM_TYPE = "application/x-ssp-parameter-mapping"

# the system structure definition inside an .ssp archive
DEFAULT_SSD = "SystemStructure.ssd"

# cosim's own annotation: <ssc:Annotation type="org.cosim"> holding <cosim:Simulation .../>
# (system level) or <cosim:Component .../> (component level)
COSIM_ANNOTATION = "org.cosim"
COSIM = "https://cosim.dev/ssp/1"

# annotations of other tools the reader understands (communication step)
OSP_ANNOTATION = "com.opensimulationplatform"
OSP = "http://opensimulationplatform.com/SSP/OSPAnnotations"
OMS_ANNOTATION = "org.openmodelica"
OMS = "https://raw.githubusercontent.com/OpenModelica/OMSimulator/master/schema/oms.xsd"

__all__ = [
    "COSIM",
    "COSIM_ANNOTATION",
    "DEFAULT_SSD",
    "FMU_TYPE",
    "KIND_OF_NAMESPACE",
    "NSMAP",
    "OMS",
    "OMS_ANNOTATION",
    "OSP",
    "OSP_ANNOTATION",
    "SSB",
    "SSC",
    "SSD",
    "SSD_TYPE",
    "SSM",
    "SSM_TYPE",
    "SSP2_SSB",
    "SSP2_SSC",
    "SSP2_SSD",
    "SSP2_SSM",
    "SSP2_SSV",
    "SSP_TYPE",
    "SSV",
    "SSV_TYPE",
    "VERSIONS",
]
