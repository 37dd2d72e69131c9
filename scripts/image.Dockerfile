# The image `make image` builds (scripts/image.sh): nothing is pulled. The build context is
# made by the script: a statically linked bridge, the CA bundle, passwd/group naming the
# numeric user, and an empty data/ directory that becomes /data, owned by that user.
# The registry build with its multi-arch Go stage is the root Dockerfile.
FROM scratch
ARG VERSION
COPY etc/ /etc/
COPY bridge /usr/local/bin/bridge
COPY --chown=10001:10001 data/ /data/
ENV PATH=/usr/local/bin
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
LABEL org.opencontainers.image.title="accountbridge" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/accountbridge/accountbridge"
# The daemon rewrites health.json beside its store every 30 s; `bridge health` checks it
# is fresh and that the MQTT connection is up.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["bridge", "health", "-c", "/data/config.yaml"]
ENTRYPOINT ["bridge"]
CMD ["run", "-c", "/data/config.yaml"]
