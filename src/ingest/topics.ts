/** `rpm/devices/{deviceId}/readings`; the shared subscription the external broker mode uses. */
export const READINGS_TOPIC = /^rpm\/devices\/([^/+#]+)\/readings$/;
export const SHARED_READINGS_SUBSCRIPTION = '$share/rpm/rpm/devices/+/readings';
export const resultsTopic = (deviceId: string) => `rpm/devices/${deviceId}/results`;
