"""Facility telemetry collectors: Redfish inlet temperature, the ΔP API, power predictors.

A shared adapter (beside :mod:`joulie.kube`): it talks HTTP to BMCs, sensor APIs and
inference servers, in the background, for ``joulie serve``. What it collects is
published as :class:`joulie.core.facility.FacilityReadings`; the extender and the
power budget read that view and never wait for a fetch.

- :mod:`joulie.facility.targets`: FacilityTelemetryTemplates + nodes -> one target per node;
- :mod:`joulie.facility.redfish`: inlet temperature discovery, the predictor endpoint provider;
- :mod:`joulie.facility.deltap`: the differential pressure API;
- :mod:`joulie.facility.v2`: the V2 (Open Inference Protocol) power predictor, cached per input;
- :mod:`joulie.facility.collector`: the bounded, concurrent fetch loop and the readings;
- :mod:`joulie.facility.kube`: templates, nodes and Secrets from the API server, template status.
"""
